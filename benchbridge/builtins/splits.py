"""The paper's splits: random halves, natural vs man-made, and explicit class lists."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import ClassInfo, Split, SplitKind, UserError, hookimpl

# The paper's ILSVRC-2012 dissimilar split as inclusive ranges of class indices (sorted-wnid order):
# 449 natural classes and 551 man-made ones (Yosinski et al. 2014, splits released with the paper).
IMAGENET_NATURAL = ((0, 397), (936, 958), (970, 970), (972, 998))
IMAGENET_MANMADE = ((398, 935), (959, 969), (971, 971), (999, 999))


def _expand(ranges: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    return tuple(i for lo, hi in ranges for i in range(lo, hi + 1))


class RandomOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = Field(0, ge=0, description="Split seed; seeds 0..3 on 1000 classes give the paper's splits.")
    size_A: int | None = Field(None, ge=1, description="Classes in half A (default: half, rounded down).")


def random_halves(num_classes: int, seed: int, size_a: int | None = None) -> tuple[tuple[int, ...], ...]:
    """The paper's procedure: numpy.random.seed([seed]); A = sorted(choice(arange(N), N//2, replace=False))."""
    k = num_classes // 2 if size_a is None else size_a
    rng = np.random.RandomState([seed])
    a = sorted(int(c) for c in rng.choice(np.arange(num_classes), k, replace=False))
    b = sorted(set(range(num_classes)) - set(a))
    return tuple(a), tuple(b)


class RandomSplit:
    """Random halves, as in the paper's Figure 2 (for 1000 classes, seeds 0..3 reproduce its lists)."""

    name = "random"
    Options = RandomOptions
    description = "random halves (numpy legacy RNG, the paper's procedure)"

    def split(self, options: RandomOptions, classes: list[ClassInfo]) -> Split:
        n = len(classes)
        if options.size_A is not None and options.size_A >= n:
            raise UserError(f"size_A={options.size_A} leaves no class for half B; the dataset has {n} classes.",
                            key="options.size_A")
        a, b = random_halves(n, options.seed, options.size_A)
        return Split(f"random-s{options.seed}", a, b, kind="random")


class NaturalManmadeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: Literal["natural", "manmade"] = Field("natural", description="Which group is half B.")
    attribute: str = Field("domain", description="Class attribute holding natural/manmade.")


class NaturalManmadeSplit:
    """Dissimilar halves (Figure 3): the paper's ImageNet lists, or a class attribute the dataset declares."""

    name = "natural_manmade"
    Options = NaturalManmadeOptions
    description = "man-made vs natural: the paper's ImageNet lists or a dataset's class attribute"

    def split(self, options: NaturalManmadeOptions, classes: list[ClassInfo]) -> Split:
        natural, manmade = self._groups(options, classes)
        source = "manmade" if options.target == "natural" else "natural"
        a, b = (manmade, natural) if options.target == "natural" else (natural, manmade)
        return Split(f"{source}->{options.target}", a, b, kind="dissimilar")

    def _groups(self, o: NaturalManmadeOptions, classes: list[ClassInfo]) -> tuple[tuple[int, ...], ...]:
        values = {c.attributes.get(o.attribute) for c in classes}
        if values <= {"natural", "manmade"} and len(values) == 2:
            nat = tuple(c.index for c in classes if c.attributes[o.attribute] == "natural")
            man = tuple(c.index for c in classes if c.attributes[o.attribute] == "manmade")
            return nat, man
        if len(classes) == 1000 and values == {None}:
            return _expand(IMAGENET_NATURAL), _expand(IMAGENET_MANMADE)
        raise UserError(
            f"the dataset does not declare the class attribute '{o.attribute}' as natural/manmade "
            f"for every class (found values: {sorted(str(v) for v in values)}).",
            key="options.attribute",
            hint="Prepare the dataset with `benchbridge data prepare imagefolder SRC OUT --attributes FILE`, "
                 "or use the `explicit` split.")


class ExplicitOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    A: list[int] = Field(min_length=1, description="Class indices of half A.")
    B: list[int] = Field(min_length=1, description="Class indices of half B.")
    label: str = "explicit"
    kind: SplitKind = Field("other", description="What the halves are to each other: random (a random cut, pooled "
                            "with random splits), dissimilar (compared with them, finding 5) or other.")


class ExplicitSplit:
    """Class lists written in the manifest."""

    name = "explicit"
    Options = ExplicitOptions
    description = "halves given as class-index lists in the manifest"

    def split(self, options: ExplicitOptions, classes: list[ClassInfo]) -> Split:
        n = len(classes)
        for half in ("A", "B"):
            bad = sorted(c for c in getattr(options, half) if not 0 <= c < n)
            if bad:
                raise UserError(f"class indices {bad[:10]} are outside the dataset's 0..{n - 1}.",
                                key=f"options.{half}")
        both = sorted(set(options.A) & set(options.B))
        if both:
            raise UserError(f"classes {both[:10]} are in both halves.", key="options.B")
        return Split(options.label, tuple(sorted(set(options.A))), tuple(sorted(set(options.B))), options.kind)


@hookimpl
def register_splits(register: Any) -> None:
    register(RandomSplit())
    register(NaturalManmadeSplit())
    register(ExplicitSplit())
