"""Before any run trains (and in `benchbridge validate`): every task's classes have training and validation
images in its dataset's index, and at least `images_per_class` training images each, so a run never trains or is
evaluated on a class without images, and no point labelled k images per class is trained on fewer."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from benchbridge.data.epoch_plan import index_entry
from benchbridge.data.source import DatasetSource
from benchbridge.errors import UserError
from benchbridge.manifest import ResolvedManifest
from benchbridge.plan import Run

SHOWN = 5  # classes named in one message

Opener = Callable[[str | None], DatasetSource | None]


def check_task_data(m: ResolvedManifest, plan: Sequence[Run], open_: Opener) -> None:
    """Check each task of the plan (its dataset, from `open_(run.task)`; None: not checked) once."""
    seen: set[tuple[str | None, tuple[int, ...]]] = set()
    for run in plan:
        key = (run.task, tuple(run.train_classes))
        if key in seen:
            continue
        seen.add(key)
        source = open_(run.task)
        if source is not None:
            check_classes(m, run, source)


def check_classes(m: ResolvedManifest, run: Run, source: DatasetSource) -> None:
    """The task of `run`: no class without training or validation images; images_per_class not above any class's
    training images (a UserError naming the classes and their counts)."""
    recipe = m.recipe(run.task)
    what = f"{recipe.label} (the classes of {run.condition} in '{run.pair}')"
    classes = sorted(set(run.train_classes))
    names = {c.index: c.name for c in source.classes}

    def named(cs: list[int], counts: list[int] | None = None) -> str:
        shown = [f"{c} ('{names.get(c, c)}')" + (f": {counts[c]}" if counts is not None else "") for c in cs[:SHOWN]]
        return ", ".join(shown) + (f" and {len(cs) - SHOWN} more" if len(cs) > SHOWN else "")

    counts_of = {split: [int(v) for v in index_entry(source, split)["class_counts"]] for split in ("train", "val")}
    for split, word in (("train", "training"), ("val", "validation")):
        counts = counts_of[split]
        empty = [c for c in classes if c >= len(counts) or counts[c] == 0]
        if empty:
            raise UserError(f"{what} uses class(es) {named(empty)} of dataset '{source.name}' ({source.root}), "
                            f"which have no {word} images: its networks would be "
                            f"{'trained' if split == 'train' else 'evaluated'} on classes they never see.",
                            file=m.file, key=recipe.key, hint=f"Add {word} images to those classes and prepare the "
                            "dataset again, or leave those classes out (a source's or target's `classes`, or a dataset "
                            "prepared without them).")
    per_class = recipe.data.images_per_class
    if per_class is None:
        return
    counts = counts_of["train"]
    short = sorted((c for c in classes if counts[c] < per_class), key=lambda c: (counts[c], c))
    if short:
        raise UserError(f"images_per_class is {per_class}, but {what} has fewer training images than that in "
                        f"{len(short)} of its {len(classes)} classes: {named(short, counts)} (class: images). The "
                        f"runs would train on fewer images than their label says.", file=m.file,
                        key=recipe.per_class_key,
                        hint=f"Set images_per_class to at most {min(counts[c] for c in classes)} (the fewest of "
                        "its classes), or leave it unset to train on every image.")
