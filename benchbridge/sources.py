"""Sources and targets as a manifest states them: transfer from any source network to any target task.

A *source* is a network trained here on a dataset's classes (the paper's baseA, generalised) or a checkpoint file
of the model's weights; a *target* is a dataset's classes, optionally with fewer training images. Every source is
transferred to every target. The paper's A/B split of one dataset is the special case a manifest's `splits` give.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from benchbridge.errors import UserError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetRef(_Strict):
    """A dataset plugin by name, with the options that plugin validates itself."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


TASK_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"


class SourceSpec(_Strict):
    """A source network: trained here on a dataset's classes, or read from a checkpoint file of the model."""

    name: str = Field(pattern=TASK_NAME, description="Names the source in run labels, tables and figures.")
    dataset: DatasetRef | None = Field(None, description="Trained source: its dataset (default: the manifest's "
                                      "dataset).")
    classes: list[int] | None = Field(None, min_length=1, description="Trained source: class indices it is "
                                      "trained on (default: every class of its dataset).")
    images_per_class: int | None = Field(None, ge=1, description="Trained source: train on the first k images "
                                         "of each class (default: data.images_per_class).")
    training: dict[str, Any] | None = Field(None, description="Trained source: training keys that differ for "
                                            "its network (e.g. {epochs: 30}); the rest is the manifest's.")
    checkpoint: Path | None = Field(None, description="A file of the model's weights (benchbridge's weights.pt, "
                                    "or the model plugin's own state dict, e.g. timm's): the source is not trained.")
    pretrained: str | None = Field(None, description="Pretrained weights that the model plugin finds in its local "
                                   "cache, e.g. resnet18.a1_in1k for model timm/resnet18 (the Hugging Face cache, "
                                   "hub offline): a checkpoint source by another name; never downloaded.")
    init: Path | None = Field(None, description="Checkpoint source: the initialisation it was trained from (same "
                              "format), for the T-metric; default: a fresh draw from the model's initialiser.")

    @model_validator(mode="after")
    def _one_kind(self) -> "SourceSpec":
        trained = [k for k in ("dataset", "classes", "images_per_class", "training") if getattr(self, k) is not None]
        if self.checkpoint is not None and self.pretrained is not None:
            raise ValueError("give either checkpoint (a file) or pretrained (weights in the model's cache), not both")
        if not self.trained and trained:
            raise ValueError(f"a checkpoint source is not trained: remove {', '.join(trained)}")
        if self.init is not None and self.trained:
            raise ValueError("'init' belongs to a checkpoint source (a trained source keeps its own)")
        return self

    @property
    def trained(self) -> bool:
        return self.checkpoint is None and self.pretrained is None


class TargetSpec(_Strict):
    """A target task: a dataset's classes, optionally with fewer training images (the data-amount axis)."""

    name: str = Field(pattern=TASK_NAME, description="Names the target in run labels, tables and figures.")
    dataset: DatasetRef | None = Field(None, description="Its dataset (default: the manifest's dataset).")
    classes: list[int] | None = Field(None, min_length=1, description="Class indices (default: every class).")
    images_per_class: int | None = Field(None, ge=1, description="Train on the first k images of each class "
                                         "(default: data.images_per_class).")
    training: dict[str, Any] | None = Field(None, description="Training keys that differ for every network "
                                            "trained on this target (e.g. {iterations: 800}).")


def check_layout(m: Any, file: str | None) -> None:
    """Splits (with a dataset), or sources and targets: names unique, checkpoint files present."""
    if m.targets is None and m.sources is None:
        for key in ("dataset", "splits"):
            if getattr(m, key) is None:
                raise UserError(f"'{key}' is required (or give sources and targets instead of splits).",
                                file=file, key=key, hint="See `benchbridge schema` for every key.")
        return
    if m.splits is not None:
        raise UserError("a manifest gives either splits (halves of one dataset) or sources and targets, not both.",
                        file=file, key="splits", hint="Move the transfer into sources and targets, or drop them.")
    for kind in ("sources", "targets"):
        if not getattr(m, kind):
            raise UserError(f"'{kind}' is missing: every source is transferred to every target, so a manifest "
                            "with one needs the other.", file=file, key=kind)
    seen: dict[str, str] = {}
    for kind in ("sources", "targets"):
        for i, spec in enumerate(getattr(m, kind)):
            if spec.name in seen:
                raise UserError(f"the name '{spec.name}' is used twice ({seen[spec.name]} and {kind}.{i}); each "
                                "source and target needs its own name.", file=file, key=f"{kind}.{i}.name")
            seen[spec.name] = f"{kind}.{i}"
    for i, src in enumerate(m.sources or []):
        for key in ("checkpoint", "init"):
            path = getattr(src, key)
            if path is not None and not Path(path).expanduser().is_file():
                raise UserError(f"{key} file '{path}' of source '{src.name}' does not exist.", file=file,
                                key=f"sources.{i}.{key}", hint="Give the path of a local weights file (nothing "
                                "is downloaded); relative paths are read from the working directory.")
