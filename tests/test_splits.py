"""The paper's class splits, reproduced exactly, and the split plugins' rules."""

import hashlib
from pathlib import Path

import pytest

from benchbridge.builtins.splits import (ExplicitOptions, ExplicitSplit, NaturalManmadeOptions,
                                         NaturalManmadeSplit, RandomOptions, RandomSplit, random_halves)
from benchbridge.data.source import ClassInfo
from benchbridge.errors import UserError
from benchbridge.transfer.halves import relabel

# sha256 of the comma-joined class indices in ../shared/study/splits/half{s}A_classes.txt (the paper's lists).
PAPER_HALF_A = {
    0: "c1aede24b4a895040775605bb38d201599cacb5420f93772d288cbedeb07c408",
    1: "f723a1d01816553c3269c2b73e2d605f34b3b2d1dcfd1885c278964f071d5b67",
    2: "65f4ac5023d5e0394b6eebb3d6960b8460605817ab8d7bccdf1ca54a579aecaf",
    3: "cbb887cb505a7e27d461591b0dcf9218c33a0d61cfd90a4ef80206db2e76a65b",
}
PAPER_NATURAL = "97587063f81c9dd94f98dcd74bf48db1e0e235ed28ba16f70769597c4ad012b2"
PAPER_MANMADE = "6df52c1dd2372dfc28ad84365b161b488d82d58d0183e1fcbb8a641ebd4a90f9"
SHARED_SPLITS = Path(__file__).resolve().parents[2] / "shared" / "study" / "splits"


def digest(classes):
    return hashlib.sha256(",".join(map(str, classes)).encode()).hexdigest()


def imagenet_like(n=1000):
    return [ClassInfo(i, f"c{i}") for i in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_split_reproduces_the_papers_lists(seed):
    split = RandomSplit().split(RandomOptions(seed=seed), imagenet_like())
    assert digest(split.A) == PAPER_HALF_A[seed]
    assert len(split.A) == len(split.B) == 500
    assert sorted(split.A + split.B) == list(range(1000))


@pytest.mark.skipif(not SHARED_SPLITS.is_dir(), reason="../shared is absent")
def test_checksums_match_the_shared_files():
    for seed, expected in PAPER_HALF_A.items():
        lines = (SHARED_SPLITS / f"half{seed}A_classes.txt").read_text().split()
        assert digest([int(x) for x in lines]) == expected


def test_natural_manmade_uses_the_papers_imagenet_lists():
    split = NaturalManmadeSplit().split(NaturalManmadeOptions(target="natural"), imagenet_like())
    assert digest(split.B) == PAPER_NATURAL and len(split.B) == 449
    assert digest(split.A) == PAPER_MANMADE and len(split.A) == 551
    reverse = NaturalManmadeSplit().split(NaturalManmadeOptions(target="manmade"), imagenet_like())
    assert reverse.A == split.B and reverse.B == split.A


def test_natural_manmade_by_declared_attribute():
    classes = [ClassInfo(i, f"c{i}", {"domain": "natural" if i % 3 else "manmade"}) for i in range(9)]
    split = NaturalManmadeSplit().split(NaturalManmadeOptions(), classes)
    assert split.A == (0, 3, 6) and split.B == (1, 2, 4, 5, 7, 8)


def test_natural_manmade_without_attribute_is_a_user_error():
    with pytest.raises(UserError, match="attribute 'domain'"):
        NaturalManmadeSplit().split(NaturalManmadeOptions(), imagenet_like(20))


def test_random_split_any_class_count_is_deterministic():
    assert random_halves(21, 5) == random_halves(21, 5)
    a, b = random_halves(21, 5)
    assert len(a) == 10 and len(b) == 11 and not set(a) & set(b)
    assert random_halves(21, 6) != (a, b)


def test_explicit_split_checks_ranges_and_overlap():
    classes = imagenet_like(10)
    split = ExplicitSplit().split(ExplicitOptions(A=[3, 1], B=[2, 9]), classes)
    assert split.A == (1, 3) and split.B == (2, 9)
    with pytest.raises(UserError, match="outside"):
        ExplicitSplit().split(ExplicitOptions(A=[1], B=[10]), classes)
    with pytest.raises(UserError, match="both halves"):
        ExplicitSplit().split(ExplicitOptions(A=[1, 2], B=[2]), classes)


def test_labels_inside_a_half_follow_ascending_class_order():
    assert relabel((7, 2, 5)) == {2: 0, 5: 1, 7: 2}


def test_every_split_declares_its_kind():
    classes = imagenet_like(10)
    assert RandomSplit().split(RandomOptions(seed=0), classes).kind == "random"
    nat = [ClassInfo(i, f"c{i}", attributes={"domain": "natural" if i < 5 else "manmade"}) for i in range(10)]
    assert NaturalManmadeSplit().split(NaturalManmadeOptions(), nat).kind == "dissimilar"
    explicit = ExplicitSplit()
    assert explicit.split(ExplicitOptions(A=[0, 1], B=[2, 3]), classes).kind == "other"
    assert explicit.split(ExplicitOptions(A=[0, 1], B=[2, 3], kind="random"), classes).kind == "random"
    with pytest.raises(ValueError):
        ExplicitOptions(A=[0], B=[1], kind="similar")
