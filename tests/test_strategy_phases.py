"""The strategy protocol: phases (which parameters train, at which rate, for how long), the schedule across them,
a regulariser; the trainer follows a strategy's plan and knows no strategy."""

import os
import signal

import pytest
import torch
import yaml

from benchbridge.builtins.alexnet import AlexNetOptions, build_alexnet
from benchbridge.execute import execute_plan
from benchbridge.execute.checkpoint import Preempted
from benchbridge.execute.optimize import LearningRate, enter_phase, lr_factor, make_optimizer
from benchbridge.execute.train import Trainer
from benchbridge.manifest import Training, load_manifest
from benchbridge.plan import make_plan
from benchbridge.results import store
from benchbridge.transfer.phases import Phase, StrategyPlan, as_plan, optimizer_groups

from grids import tiny_manifest

OPTS = AlexNetOptions(input_size=16, width=0.125, fc_width=32, init="kaiming", preprocess="standard")


def net(seed=0):
    torch.manual_seed(seed)
    return build_alexnet(OPTS, num_classes=4)


def test_phase_bounds_and_the_phase_of_each_iteration():
    plan = StrategyPlan([Phase([], fraction=0.25), Phase([], fraction=0.25), Phase([])])
    assert plan.bounds(100) == [(0, 25), (25, 50), (50, 100)]
    assert [plan.phase_at(i, 100) for i in (0, 24, 25, 49, 50, 99)] == [0, 0, 1, 1, 2, 2]
    assert plan.windows(100) == [(0, 100)]
    assert StrategyPlan(plan.phases, schedule="restart").windows(100) == [(0, 25), (25, 50), (50, 100)]


@pytest.mark.parametrize("fractions", [[None, None], [0.0, None], [0.6, 0.5, None], [1.0, None]])
def test_a_plan_refuses_phases_without_a_share_of_the_budget(fractions):
    with pytest.raises(ValueError, match="fraction"):
        StrategyPlan([Phase([], fraction=f) for f in fractions])


def test_a_list_of_groups_is_one_phase_and_keeps_its_groups_as_they_are():
    model = net()
    groups = [{"params": list(model.blocks[0].parameters()), "lr_mult": 1.0},
              {"params": list(model.head.parameters()), "lr_mult": 1.0}]
    plan = as_plan(groups)
    assert not plan.multi_phase and plan.regulariser is None and plan.windows(10) == [(0, 10)]
    assert optimizer_groups(plan) == groups  # not merged although their multipliers are equal


def test_multi_phase_groups_share_their_multiplier_in_every_phase():
    model = net()
    head, first = list(model.head.parameters()), list(model.blocks[0].parameters())
    plan = StrategyPlan([Phase([{"params": head, "lr_mult": 1.0}], fraction=0.5),
                         Phase([{"params": first, "lr_mult": 0.1}, {"params": head, "lr_mult": 1.0}])])
    groups = optimizer_groups(plan)
    assert [(len(g["params"]), g["phase_mults"]) for g in groups] == [(len(head), [1.0, 1.0]),
                                                                      (len(first), [0.0, 0.1])]
    opt = make_optimizer(plan, Training(lr=0.1, epochs=1))
    enter_phase(model, opt, plan, 0)
    assert [g["lr_mult"] for g in opt.param_groups] == [1.0, 0.0]
    assert all(p.requires_grad for p in head) and not any(p.requires_grad for p in first)
    enter_phase(model, opt, plan, 1)
    assert [g["lr_mult"] for g in opt.param_groups] == [1.0, 0.1]
    assert all(p.requires_grad for p in first)


def test_a_group_may_set_its_own_weight_decay():
    model = net()
    plan = as_plan([{"params": list(model.parameters()), "lr_mult": 1.0, "weight_decay": 0.0}])
    assert make_optimizer(plan, Training(lr=0.1, epochs=1, weight_decay=0.5)).param_groups[0]["weight_decay"] == 0


def test_a_restarted_schedule_runs_again_compressed_into_each_phase():
    t = Training(lr=0.1, iterations=100, schedule={"name": "cosine"})
    rate = LearningRate(t, 100, 10, windows=[(0, 40), (40, 100)])
    assert rate.factor(0) == 1.0 and rate.factor(40) == 1.0
    assert rate.factor(20) == pytest.approx(0.5) and rate.factor(70) == pytest.approx(0.5)  # half-way in each phase
    assert LearningRate(t, 100, 10).factor(70) == pytest.approx(lr_factor(t, 70, 100, 10))
    step = Training(lr=0.1, iterations=100, schedule={"name": "step", "step_size": 75})  # x0.1 for the last quarter
    rate = LearningRate(step, 100, 10, windows=[(0, 40), (40, 100)])
    assert [rate.factor(i) for i in (29, 30, 39, 40, 84, 85, 99)] == pytest.approx([1, 0.1, 0.1, 1, 1, 0.1, 0.1])


# --- the trainer follows the plan ---------------------------------------------------------------------------------


def transfer_manifest(tmp_path, condition, out="out"):
    path = tiny_manifest(tmp_path, out)
    data = yaml.safe_load(path.read_text())
    data["splits"] = [{"name": "random", "options": {"seed": 1}}]
    data.update(conditions=[condition], layers=[3])
    data["model"]["options"]["dropout"] = 0.0
    data["training"].update(lr=0.05, schedule={"name": "constant"})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_manifest(path)


def spy_steps(monkeypatch):
    """Record, for every optimizer step of the transfer run, which blocks (and the head) changed, and each
    optimizer group's rate."""
    steps = []
    step = Trainer._step

    def spied(self, model, opt, x, y, it):
        if self.run.strategy == "scratch":
            return step(self, model, opt, x, y, it)
        net = model
        before = {k: v.clone() for k, v in net.state_dict().items()}
        step(self, model, opt, x, y, it)
        after = net.state_dict()
        changed = sorted({k.split(".")[0] if k.startswith("head") else int(k.split(".")[1])
                          for k in before if k.endswith("weight") and not torch.equal(before[k], after[k])},
                         key=str)
        steps.append({"it": it, "changed": changed, "lrs": [g["lr"] for g in opt.param_groups]})

    monkeypatch.setattr(Trainer, "_step", spied)
    return steps


@pytest.mark.slow
def test_the_trainer_trains_the_head_alone_then_everything_in_lp_ft(tmp_path, monkeypatch):
    m = transfer_manifest(tmp_path, {"name": "lpft", "source": "A", "strategy": "lp_ft",
                                     "options": {"probe_fraction": 0.4, "finetune_lr_mult": 0.5}})
    steps = spy_steps(monkeypatch)
    execute_plan(m, make_plan(m))
    total = len(steps)
    probe = round(0.4 * total)
    assert total == 8 and [s["it"] for s in steps] == list(range(total))  # full batches only: last partial dropped
    assert all(s["changed"] == ["head"] for s in steps[:probe])
    assert all(s["changed"] == [0, 1, 2, 3, 4, 5, 6, "head"] for s in steps[probe:])
    # probe: the head's group at lr, the others at 0; fine-tuning: copied blocks at lr x 0.5, the rest at lr
    assert sorted(steps[0]["lrs"]) == [0.0, 0.0, 0.05]
    assert sorted(steps[-1]["lrs"]) == pytest.approx([0.025, 0.05, 0.05])


@pytest.mark.slow
def test_the_trainer_adds_the_regulariser_to_every_step(tmp_path, monkeypatch):
    calls = []
    m = transfer_manifest(tmp_path, {"name": "sp", "source": "A", "strategy": "l2sp", "options": {"alpha": 0.1}})
    from benchbridge.builtins import l2sp

    call = l2sp.L2SPPenalty.__call__
    monkeypatch.setattr(l2sp.L2SPPenalty, "__call__", lambda self: calls.append(1) or call(self))
    steps = spy_steps(monkeypatch)
    execute_plan(m, make_plan(m))
    assert len(calls) == len(steps) == 8  # every step of full batches (the last partial batch is dropped)


class SignalIn:
    """Events that send this process SIGTERM when the run of `strategy` reaches `at` iterations."""

    def __init__(self, strategy: str, at: int) -> None:
        self.strategy, self.at, self.sent = strategy, at, False

    def started(self, run): ...
    def finished(self, run, metrics): ...

    def progress(self, run, done, total):
        if run.strategy == self.strategy and done == self.at and not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)


def outcome(out):
    """Per run: its record without costs, and its weights."""
    cost = {"wall_time_s", "data_s", "compute_s", "eval_s", "images_per_s", "device_hours", "peak_memory_bytes",
            "images_decoded"}
    found = {}
    for run in (out / store.RUNS_DIR).iterdir():
        metrics = {k: v for k, v in store.read_json(run / store.METRICS_FILE).items() if k not in cost}
        found[run.name] = (metrics, torch.load(run / store.WEIGHTS_FILE, weights_only=True))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("at", [3, 6])  # in the probe phase (iterations 0-3), in the fine-tuning phase (4-9)
def test_a_resumed_run_re_enters_its_phase_and_ends_as_an_uninterrupted_one(tmp_path, at):
    condition = {"name": "lpft", "source": "A", "strategy": "lp_ft", "options": {"probe_fraction": 0.4}}
    ref = transfer_manifest(tmp_path, condition, "ref")
    execute_plan(ref, make_plan(ref))
    m = transfer_manifest(tmp_path, condition, "cut")
    with pytest.raises(Preempted):
        execute_plan(m, make_plan(m), SignalIn("lp_ft", at))
    execute_plan(m, make_plan(m))
    a, b = outcome(tmp_path / "ref"), outcome(tmp_path / "cut")
    assert a.keys() == b.keys() and len(a) == 3
    for run_id, (metrics, weights) in a.items():
        assert metrics == b[run_id][0], run_id
        assert all(torch.equal(w, b[run_id][1][k]) for k, w in weights.items()), run_id


@pytest.mark.slow
def test_under_ddp_the_network_is_wrapped_again_when_a_phase_changes_what_trains(tmp_path, monkeypatch):
    """DDP registers the parameters that require gradients when it is built: a phase that unfreezes blocks needs a
    new wrapper (here the trainer believes it has two ranks; its wrapper is recorded, not built)."""
    wrapped = []
    init, wrap = Trainer.__init__, Trainer._wrap

    def two_ranks(self, run, setup, context=None):
        init(self, run, setup, context)
        if run.strategy == "lp_ft":
            self.world = 2

    def recorded(self, net):
        if self.world == 1:
            return wrap(self, net)
        wrapped.append(sorted({n.split(".")[0] for n, p in net.named_parameters() if p.requires_grad}))
        return net

    monkeypatch.setattr(Trainer, "__init__", two_ranks)
    monkeypatch.setattr(Trainer, "_wrap", recorded)
    m = transfer_manifest(tmp_path, {"name": "lpft", "source": "A", "strategy": "lp_ft"})
    execute_plan(m, make_plan(m))
    assert wrapped == [["head"], ["blocks", "head"]]
