"""Bundled analyses: linear probes, CKA, Chen et al.'s T-metric, LogME, H-score, LEEP and NCE."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import AnalysisContext as Context
from benchbridge.api import NoOptions, Register, Series, hookimpl
from benchbridge.api import analysis_metrics as metrics

BENCHBRIDGE_HOOK_API = 1


class ProbeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ridge: float = Field(metrics.RIDGE, gt=0, description="Ridge penalty on standardised features.")


def _per_block(ctx: Context, net: str, fn: Any) -> Series:
    feats = ctx.train[net].blocks
    return {i + 1: fn(feats[i], ctx.train_labels) for i in range(len(feats))}


class Probe:
    """Linear probe (closed-form ridge onto one-hot labels): top-1 on half B's validation images, per block."""

    name = "probe"
    Options = ProbeOptions

    def measure(self, ctx: Context, options: ProbeOptions) -> dict[str, Series]:
        out = {}
        for net in ("A", "B", "random"):
            tr, va = ctx.train[net].blocks, ctx.val[net].blocks
            out[f"probe_{net}"] = {i + 1: metrics.ridge_probe(tr[i], ctx.train_labels, va[i], ctx.val_labels,
                                                               options.ridge) for i in range(len(tr))}
        return out


class CKA:
    """Linear CKA (debiased HSIC) between net A's and net B's features of half B's training images, per block."""

    name = "cka"
    Options = NoOptions

    def measure(self, ctx: Context, options: NoOptions) -> dict[str, Series]:
        a, b = ctx.train["A"].blocks, ctx.train["B"].blocks
        return {"cka_AB": {i + 1: metrics.linear_cka(a[i], b[i]) for i in range(len(a))}}


class TMetric:
    """Chen et al. 2022: D(random, fine-tuned) / D(pre-trained, fine-tuned) per block (blocks that were copied)."""

    name = "t_metric"
    Options = NoOptions

    def measure(self, ctx: Context, options: NoOptions) -> dict[str, Series]:
        w = ctx.weights
        if w is None:
            return {}
        return {"t_metric": {i + 1: metrics.t_metric(w.random[i], w.pretrained[i], w.finetuned[i])
                             for i in range(w.n)}}


class LogME:
    """LogME of net A's block features for half B's labels (You et al. 2021)."""

    name = "logme"
    Options = NoOptions

    def measure(self, ctx: Context, options: NoOptions) -> dict[str, Series]:
        return {"logme_A": _per_block(ctx, "A", metrics.logme)}


class HScore:
    """H-score of net A's block features for half B's labels (Bao et al. 2019)."""

    name = "h_score"
    Options = NoOptions

    def measure(self, ctx: Context, options: NoOptions) -> dict[str, Series]:
        return {"h_score_A": _per_block(ctx, "A", metrics.h_score)}


class Leep:
    """LEEP of net A's classifier for half B's labels (Nguyen et al. 2020): the top layer only."""

    name = "leep"
    Options = NoOptions

    def measure(self, ctx: Context, options: NoOptions) -> dict[str, Series]:
        return {"leep_A": {len(ctx.cut_points): metrics.leep(ctx.train["A"].probs, ctx.train_labels)}}


class NCE:
    """NCE of net A's hard predictions for half B's labels (Tran et al. 2019): the top layer only."""

    name = "nce"
    Options = NoOptions

    def measure(self, ctx: Context, options: NoOptions) -> dict[str, Series]:
        z = ctx.train["A"].probs.argmax(axis=1)
        return {"nce_A": {len(ctx.cut_points): metrics.nce(z, ctx.train_labels)}}


@hookimpl
def register_analyses(register: Register) -> None:
    for analysis in (Probe(), CKA(), TMetric(), LogME(), HScore(), Leep(), NCE()):
        register(analysis)
