"""Chen et al.'s T-metric on hand-set weights: theta_r is the source network's own initialisation, and only conv and
linear weights count."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from benchbridge.results import store
from benchbridge.analyze import metrics, weights
from benchbridge.analyze.base import Context, FinetunedWeights
from benchbridge.builtins.analyses import TMetric
from benchbridge.api import NoOptions
from benchbridge.execute.train import RunSetup
from benchbridge.execute.construct import initial_network
from benchbridge.manifest import load_manifest
from benchbridge.plan import make_plan
from benchbridge.results.record import RunRecord
from benchbridge.results import Result
from grids import tiny_manifest

WEIGHT, BIAS = 1, 2  # hand-set values are per kind: conv/linear weights, and everything else (biases)


def _set(state: dict[str, torch.Tensor], weight: float, other: float) -> dict[str, torch.Tensor]:
    """Every conv/linear weight of the alexnet blocks to `weight`, every other float tensor to `other`."""
    return {k: torch.full_like(v, weight if k.endswith(".weight") and v.ndim >= 2 else other)
            if v.is_floating_point() else v for k, v in state.items()}


def _record(run) -> RunRecord:
    return RunRecord(run_id=run.id, condition=run.condition, n=run.n, pair=run.pair, seed=run.seed, top1=0.5,
                     top5=1.0, top1_best_k=0.5, best_k=1, iterations=1, images_seen=1, wall_time_s=1.0)


@pytest.fixture()
def grid(tmp_path):
    """A planned tiny grid (nothing trained) whose source and fine-tuned weights are written by hand."""
    m = load_manifest(tiny_manifest(tmp_path))
    plan = make_plan(m)
    finetuned = next(r for r in plan if r.condition == "AnB+" and r.n == 7)
    source = next(r for r in plan if r.id == finetuned.source)
    setup = RunSetup(m, None, tmp_path / "out", torch.device("cpu"))
    template = initial_network(source, setup.manifest).state_dict()
    files = {(source.id, store.WEIGHTS_FILE): _set(template, 3.0, 7.0),  # net A, trained
             (finetuned.id, store.WEIGHTS_FILE): _set(template, 2.5, 0.0),  # AnB+, fine-tuned
             (finetuned.id, store.INIT_FILE): _set(template, 0.0, 9.0)}  # AnB+'s own draw: the WRONG theta_r
    for (run_id, name), state in files.items():
        folder = store.run_dir(setup.output_dir, run_id)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(state, folder / name)
    results = {r.id: Result(r, _record(r)) for r in (source, finetuned)}
    return SimpleNamespace(setup=setup, source=source, finetuned=finetuned, results=results, template=template)


def _t(w: FinetunedWeights) -> dict[int, float]:
    return TMetric().measure(SimpleNamespace(weights=w), NoOptions())["t_metric"]


def test_t_uses_the_source_networks_init_pt(grid):
    folder = store.run_dir(grid.setup.output_dir, grid.source.id)
    torch.save(_set(grid.template, 1.0, 100.0), folder / store.INIT_FILE)  # net A started from 1.0
    w = weights.finetuned_weights(grid.finetuned, grid.results, grid.setup, grid.setup.output_dir)
    assert w.random_origin == weights.FROM_FILE and w.condition == "AnB+" and w.n == 7
    assert w.init_origin == "trained"  # init.pt beside a trained network's weights: the draw it trained from
    t = _t(w)
    # |1 - 2.5| / |3 - 2.5| = 3 in every block; the AnB+ run's own init (0) would give 5, biases would move it
    assert list(t) == list(range(1, 8))
    assert all(v == pytest.approx(3.0) for v in t.values())
    means = TMetric().measure(SimpleNamespace(weights=w), NoOptions())["t_metric_mean"]
    assert means == {7: pytest.approx(3.0)}


def test_without_init_pt_theta_r_is_the_source_draw_recomputed(grid):
    w = weights.finetuned_weights(grid.finetuned, grid.results, grid.setup, grid.setup.output_dir)
    assert w.random_origin == weights.RECOMPUTED and w.init_origin is None
    drawn = initial_network(grid.source, grid.setup.manifest).state_dict()  # what net A started from
    conv1 = drawn["blocks.0.0.weight"].numpy().astype(np.float64)
    expected = np.mean(np.abs(conv1 - 2.5)) / 0.5
    assert _t(w)[1] == pytest.approx(expected)
    assert _t(w)[1] != pytest.approx(2.5 / 0.5)  # not the fine-tuned run's own init


def test_only_conv_and_linear_weights_are_compared():
    block = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2, 3))
    net = SimpleNamespace(blocks=[block, nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))])
    got = weights.block_weights(net)
    assert [a.shape for a in got[0]] == [(2, 1, 1, 1), (3, 2)]  # no biases, no BatchNorm parameters
    assert got[1] == []


def test_a_block_without_weights_gives_a_null_t_and_no_mean():
    one = [np.ones((2, 2))]
    w = FinetunedWeights("AnB+", 2, [one, []], [[np.full((2, 2), 3.0)], []], [[np.full((2, 2), 2.0)], []])
    out = TMetric().measure(SimpleNamespace(weights=w), NoOptions())
    assert out["t_metric"][1] == pytest.approx(1.0)
    assert isinstance(out["t_metric"][2], metrics.Undefined)
    assert isinstance(out["t_metric_mean"][2], metrics.Undefined)


def test_context_classes_default_keeps_third_party_constructors_working():
    ctx = Context("s", 0, ["a"], {}, {}, np.zeros(4, int), np.zeros(4, int), None)
    assert ctx.classes is None
