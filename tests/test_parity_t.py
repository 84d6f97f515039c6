"""benchmarks/parity_t.py (issue 25, item 5): the plain loop's T is benchbridge's T of the same weights."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchbridge.analyze.metrics import t_metric
from benchbridge.analyze.weights import state_weights, weight_keys
from benchbridge.builtins.alexnet import AlexNetOptions, build_alexnet

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import parity_t  # noqa: E402


def tiny_states() -> tuple[list[list[str]], list[dict[str, torch.Tensor]]]:
    """A small CaffeNet's conv/linear keys per block, and three different draws of its state (r, p, f)."""
    states = []
    for seed in range(3):
        torch.manual_seed(seed)
        net = build_alexnet(AlexNetOptions(input_size=28, width=0.125, fc_width=16, init="kaiming"), 3)
        states.append({k: v.detach().clone() for k, v in net.state_dict().items()})
    return weight_keys(net), states


def test_the_loop_reads_the_weights_benchbridge_reads_from_a_file(tmp_path):
    keys, (state, *_) = tiny_states()
    torch.save(state, tmp_path / "weights.pt")
    from_file = state_weights(tmp_path / "weights.pt", keys)
    in_memory = parity_t.block_lists(state, keys)
    assert [len(b) for b in in_memory] == [len(b) for b in from_file] and len(keys) == 7
    assert all(np.array_equal(a, b) for fa, ma in zip(from_file, in_memory) for a, b in zip(fa, ma))


def test_the_loop_side_t_and_travels_of_known_weights():
    """theta_r = 0, theta_p = 1, theta_f = 1.5 everywhere: T = 1.5 / 0.5 = 3 in every block; travels 1 and 0.5."""
    keys, (state, *_) = tiny_states()
    r, p, f = ({k: torch.full_like(v, c) for k, v in state.items()} for c in (0.0, 1.0, 1.5))
    got = parity_t.measures(*(parity_t.block_lists(s, keys) for s in (r, p, f)))
    assert got["t"] == pytest.approx([3.0] * 7)
    assert got["source_travel"] == pytest.approx([1.0] * 7)
    assert got["finetune_travel"] == pytest.approx([0.5] * 7)


def test_the_loop_side_t_is_benchbridges_t_of_the_files(tmp_path):
    """Three draws saved as init.pt / weights.pt files and read back as benchbridge's analysis reads them give the
    T per block that the loop computes from the same states in memory."""
    keys, states = tiny_states()
    for name, state in zip(("init", "source", "finetuned"), states):
        torch.save(state, tmp_path / f"{name}.pt")
    r, p, f = (state_weights(tmp_path / f"{name}.pt", keys) for name in ("init", "source", "finetuned"))
    from_files = [t_metric(r[i], p[i], f[i]) for i in range(len(keys))]
    got = parity_t.measures(*(parity_t.block_lists(s, keys) for s in states))["t"]
    assert got == pytest.approx(from_files, rel=1e-12) and all(0.5 < v < 2 for v in got)  # three random draws: T ~ 1
