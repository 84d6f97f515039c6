"""Transfer from any source to any target: manifests, plans, run ids, checkpoint sources, bad input."""

import hashlib
from pathlib import Path

import pytest

from benchbridge.manifest import load_manifest
from benchbridge.plan import make_plan

ROOT = Path(__file__).resolve().parents[1]

# sha256 of the comma-joined sorted run ids, computed on the code before sources and targets existed (99d7914)
PINNED = {
    "yosinski2014": (143, "3ffce585eb6c4d5d2a56e531a8993836683d33fbcc5a08a92633469ed8948147"),
    "quickstart": (46, "f8e89979457ad1c1d0db935be503a1256f7fb7ff2ade446331f7acc5e868f456"),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_existing_manifests_keep_their_run_ids(name):
    ids = sorted(r.id for r in make_plan(load_manifest(ROOT / "manifests" / f"{name}.yaml")))
    assert (len(ids), hashlib.sha256(",".join(ids).encode()).hexdigest()) == PINNED[name]
