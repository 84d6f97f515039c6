"""Bundled analyses: linear probes, CKA, Chen et al.'s T-metric, LogME, H-score, LEEP and NCE."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import AnalysisContext as Context
from benchbridge.api import NoOptions, Register, Series, hookimpl
from benchbridge.api import analysis_metrics as metrics

BENCHBRIDGE_HOOK_API = 1


class ProbeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ridge: float = Field(metrics.RIDGE, gt=0, description="Ridge penalty on standardised features.")


def point(fn: Any, *args: Any, **kwargs: Any) -> float | metrics.Undefined:
    """fn(*args), or the Undefined it raised (a null with its reason, so one point cannot stop the others)."""
    try:
        return fn(*args, **kwargs)
    except metrics.Undefined as exc:
        return exc


def _per_block(ctx: Context, net: str, fn: Any, **kwargs: Any) -> Series:
    feats = ctx.train[net].blocks
    return {i + 1: point(fn, feats[i], ctx.train_labels, **kwargs) for i in range(len(feats))}


class Probe:
    """Linear probe (closed-form ridge onto one-hot labels): top-1 on half B's validation images, per block."""

    name = "probe"
    Options = ProbeOptions
    needs = {"probe_A": ("A",), "probe_B": ("B",), "probe_random": ()}  # trained networks each series reads

    def measure(self, ctx: Context, options: ProbeOptions) -> dict[str, Series]:
        out = {}
        for net in ("A", "B", "random"):
            tr, va = ctx.train[net].blocks, ctx.val[net].blocks
            out[f"probe_{net}"] = {i + 1: point(metrics.ridge_probe, tr[i], ctx.train_labels, va[i], ctx.val_labels,
                                                options.ridge) for i in range(len(tr))}
        return out


class CKA:
    """Linear CKA (debiased HSIC) between net A's and net B's features of half B's training images, per block."""

    name = "cka"
    Options = NoOptions
    needs = {"cka_AB": ("A", "B")}

    def measure(self, ctx: Context, options: NoOptions) -> dict[str, Series]:
        a, b = ctx.train["A"].blocks, ctx.train["B"].blocks
        return {"cka_AB": {i + 1: point(metrics.linear_cka, a[i], b[i]) for i in range(len(a))}}


class TMetric:
    """Chen et al. 2022: D(theta_r, fine-tuned) / D(pre-trained, fine-tuned) per copied block, conv/linear weights
    only; theta_r is the pre-trained network's own initialisation. `t_metric_mean`: the mean over those blocks."""

    name = "t_metric"
    Options = NoOptions
    needs = {"t_metric": ("A", "finetuned"), "t_metric_mean": ("A", "finetuned")}

    def measure(self, ctx: Context, options: NoOptions) -> dict[str, Series]:
        w = ctx.weights
        if w is None:
            return {}
        per_block = {i + 1: point(metrics.t_metric, w.random[i], w.pretrained[i], w.finetuned[i]) for i in range(w.n)}
        values = [v for v in per_block.values() if isinstance(v, float)]
        mean: float | metrics.Undefined = (sum(values) / len(values) if len(values) == len(per_block) and values
                                           else metrics.Undefined("a copied block has no T value"))
        return {"t_metric": per_block, "t_metric_mean": {w.n: mean}}


class LogME:
    """LogME of net A's block features for half B's labels (You et al. 2021)."""

    name = "logme"
    Options = NoOptions
    needs = {"logme_A": ("A",)}

    def measure(self, ctx: Context, options: NoOptions) -> dict[str, Series]:
        return {"logme_A": _per_block(ctx, "A", metrics.logme, classes=ctx.classes)}


class HScore:
    """H-score of net A's block features for half B's labels (Bao et al. 2019)."""

    name = "h_score"
    Options = NoOptions
    needs = {"h_score_A": ("A",)}

    def measure(self, ctx: Context, options: NoOptions) -> dict[str, Series]:
        return {"h_score_A": _per_block(ctx, "A", metrics.h_score)}


class Leep:
    """LEEP of net A's classifier for half B's labels (Nguyen et al. 2020): the top layer only."""

    name = "leep"
    Options = NoOptions
    needs = {"leep_A": ("A",)}

    def measure(self, ctx: Context, options: NoOptions) -> dict[str, Series]:
        return {"leep_A": {len(ctx.cut_points): point(metrics.leep, ctx.train["A"].probs, ctx.train_labels)}}


class NCE:
    """NCE of net A's hard predictions for half B's labels (Tran et al. 2019): the top layer only."""

    name = "nce"
    Options = NoOptions
    needs = {"nce_A": ("A",)}

    def measure(self, ctx: Context, options: NoOptions) -> dict[str, Series]:
        probs = ctx.train["A"].probs
        if not np.isfinite(probs).all():
            return {"nce_A": {len(ctx.cut_points): metrics.Undefined("non-finite source probabilities")}}
        return {"nce_A": {len(ctx.cut_points): point(metrics.nce, probs.argmax(axis=1), ctx.train_labels)}}


@hookimpl
def register_analyses(register: Register) -> None:
    for analysis in (Probe(), CKA(), TMetric(), LogME(), HScore(), Leep(), NCE()):
        register(analysis)
