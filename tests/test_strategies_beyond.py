"""The bundled strategies beyond the paper: linear_probe, lp_ft, surgical, l2sp, layerwise_lr. Each test fails if a
strategy trains the wrong parameters, applies the wrong rate in a phase, or leaves out its regulariser."""

import pytest
import torch
import torch.nn.functional as F

from benchbridge.builtins.alexnet import AlexNetOptions, build_alexnet
from benchbridge.builtins.l2sp import L2SP, L2SPOptions
from benchbridge.builtins.layerwise_lr import LayerwiseLr, LayerwiseOptions
from benchbridge.builtins.linear_probe import LinearProbe
from benchbridge.builtins.lp_ft import LpFt, LpFtOptions
from benchbridge.builtins.surgical import Surgical, SurgicalOptions
from benchbridge.errors import UserError
from benchbridge.execute.optimize import enter_phase, make_optimizer
from benchbridge.manifest import Training, load_manifest
from benchbridge.registry import NoOptions
from benchbridge.transfer.phases import as_plan

OPTS = AlexNetOptions(input_size=16, width=0.125, fc_width=32, init="kaiming", preprocess="standard")
LR = 0.05
BLOCKS = 7


def net(seed):
    torch.manual_seed(seed)
    return build_alexnet(OPTS, num_classes=4)


def train_phases(model, prepared, steps=2):
    """Train each phase of a strategy's plan for `steps` steps, as the trainer does (its phase set up, the
    regulariser added); per phase: which blocks ("head" for the head) changed, and each group's rate."""
    plan = as_plan(prepared)
    opt = make_optimizer(plan, Training(lr=LR, epochs=1, batch_size=8, weight_decay=0.0))
    model.train()
    out = []
    for k in range(len(plan.phases)):
        if plan.multi_phase:
            enter_phase(model, opt, plan, k)
        before = {key: v.clone() for key, v in model.state_dict().items()}
        for i in range(steps):
            torch.manual_seed(100 + i)
            x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 4, (8,))
            loss = F.cross_entropy(model(x), y)
            if plan.regulariser is not None:
                loss = loss + plan.regulariser()
            opt.zero_grad()
            loss.backward()
            for g in opt.param_groups:
                g["lr"] = LR * g["lr_mult"]
            opt.step()
        after = model.state_dict()
        changed = {key.split(".")[0] if key.startswith("head") else int(key.split(".")[1])
                   for key in before if key.endswith("weight") and not torch.equal(before[key], after[key])}
        out.append((changed, [g["lr_mult"] for g in opt.param_groups]))
    return out


def copied_from(model, source, n):
    src = source.state_dict()
    return all(torch.equal(v, src[k]) for k, v in model.state_dict().items()
               if k.startswith(tuple(f"blocks.{i}." for i in range(n))))


@pytest.mark.parametrize("n", [3, 7])
def test_linear_probe_copies_the_blocks_and_trains_the_head_alone(n):
    source, target = net(0), net(1)
    prepared = LinearProbe().prepare(target, n, source.state_dict(), NoOptions())
    assert copied_from(target, source, n) and target.frozen_prefix == BLOCKS
    [(changed, mults)] = train_phases(target, prepared)
    assert changed == {"head"} and mults == [1.0]
    assert all(p.grad is None for p in target.blocks.parameters())


def test_lp_ft_probes_with_the_head_alone_then_fine_tunes_everything_at_its_rates():
    source, target = net(0), net(1)
    plan = LpFt().prepare(target, 3, source.state_dict(), LpFtOptions(probe_fraction=0.25, finetune_lr_mult=0.1))
    assert copied_from(target, source, 3)
    assert plan.bounds(100) == [(0, 25), (25, 100)] and plan.schedule == "restart"
    (probe, probe_mults), (tune, tune_mults) = train_phases(target, plan)
    assert probe == {"head"} and tune == {*range(BLOCKS), "head"}
    # optimizer groups: the head (1 in both phases), the copied blocks (0, then 0.1), the new blocks (0, then 1)
    assert probe_mults == [1.0, 0.0, 0.0] and tune_mults == [1.0, 0.1, 1.0]
    assert LpFt().prepare(net(1), 3, source.state_dict(), LpFtOptions(schedule="continue")).windows(100) == [(0, 100)]


@pytest.mark.parametrize("block", range(1, BLOCKS + 1))
def test_surgical_fine_tunes_only_its_block_of_the_copied_ones(block):
    source, target = net(0), net(1)
    prepared = Surgical().prepare(target, BLOCKS, source.state_dict(), SurgicalOptions(block=block))
    assert copied_from(target, source, BLOCKS)
    [(changed, _)] = train_phases(target, prepared)
    assert changed == {block - 1, "head"}


def test_surgical_below_the_cut_point_trains_its_block_and_the_new_ones():
    source = net(0)
    [(changed, _)] = train_phases(target := net(1), Surgical().prepare(target, 4, source.state_dict(),
                                                                       SurgicalOptions(block=2)))
    assert changed == {1, 4, 5, 6, "head"}
    [(changed, _)] = train_phases(target := net(1), Surgical().prepare(target, 3, source.state_dict(),
                                                                       SurgicalOptions(block=6)))
    assert changed == {3, 4, 5, 6, "head"}  # block 6 is above n = 3: new anyway, the copied ones frozen
    with pytest.raises(UserError, match="block 8"):
        Surgical().prepare(net(1), 3, source.state_dict(), SurgicalOptions(block=8))


def test_l2sp_penalises_the_distance_to_the_source_and_the_new_weights():
    source, target = net(0), net(1)
    plan = L2SP().prepare(target, 3, source.state_dict(), L2SPOptions(alpha=0.3, beta=0.02))
    assert copied_from(target, source, 3)
    assert all(g["weight_decay"] == 0.0 for g in plan.phases[0].groups)  # the penalty replaces weight decay
    copied = [p for b in target.blocks[:3] for p in b.parameters()]
    new = [p for b in target.blocks[3:] for p in b.parameters()] + list(target.head.parameters())
    with torch.no_grad():
        for p in copied:
            p.add_(0.5)
    expected = 0.3 / 2 * sum(p.numel() * 0.25 for p in copied) + 0.02 / 2 * sum((p ** 2).sum() for p in new).detach()
    value = plan.regulariser()
    assert value.detach().item() == pytest.approx(float(expected), rel=1e-5)
    value.backward()
    assert torch.allclose(copied[0].grad, torch.full_like(copied[0], 0.3 * 0.5))
    assert torch.allclose(new[0].grad, 0.02 * new[0].detach())


def test_l2sp_keeps_the_copied_weights_nearer_the_source_than_fine_tuning():
    source = net(0)
    strong = net(1)
    train_phases(strong, L2SP().prepare(strong, 7, source.state_dict(), L2SPOptions(alpha=2.0)), steps=10)
    plain = net(1)
    train_phases(plain, L2SP().prepare(plain, 7, source.state_dict(), L2SPOptions(alpha=0.0, beta=0.0)), steps=10)
    src = source.state_dict()

    def distance(model):
        return sum((v - src[k]).abs().sum() for k, v in model.state_dict().items() if k.startswith("blocks."))

    assert distance(strong) < 0.5 * distance(plain)


@pytest.mark.parametrize("n", [1, 4, 7])
def test_layerwise_rates_decay_per_block_from_the_top(n):
    source, target = net(0), net(1)
    groups = LayerwiseLr().prepare(target, n, source.state_dict(), LayerwiseOptions(decay=0.5))
    assert copied_from(target, source, n)
    by_block = {i: g["lr_mult"] for g in groups for i, b in enumerate(target.blocks)
                if any(p is q for p in g["params"] for q in b.parameters())}
    assert by_block == {i: (0.5 ** (n - i) if i < n else 1.0) for i in range(BLOCKS)}
    head = [g["lr_mult"] for g in groups if any(p is q for p in g["params"] for q in target.head.parameters())]
    assert head == [1.0]
    [(changed, _)] = train_phases(target, groups)
    assert changed == {*range(BLOCKS), "head"}


@pytest.mark.parametrize(("condition", "key"), [
    ({"strategy": "surgical", "options": {"blok": 3}}, "conditions.0.options.blok"),
    ({"strategy": "surgical", "options": {}}, "conditions.0.options.block"),
    ({"strategy": "l2sp", "options": {"alpha": -1}}, "conditions.0.options.alpha"),
    ({"strategy": "lp_ft", "options": {"probe_fraction": 1.5}}, "conditions.0.options.probe_fraction"),
    ({"strategy": "layerwise_lr", "options": {"decay": 0}}, "conditions.0.options.decay"),
    ({"strategy": "linear_probe", "options": {"lr": 1}}, "conditions.0.options.lr"),
    ({"strategy": "surgical", "options": {"block": 8}}, "conditions.0.options.block"),  # CaffeNet has 7 blocks
])
def test_each_strategy_validates_its_options_with_the_key_path(condition, key, paper_manifest, write_manifest):
    paper_manifest["conditions"] = [{"name": "x", "source": "A", **condition}]
    with pytest.raises(UserError) as err:
        load_manifest(write_manifest(paper_manifest))
    assert f"'{key}'" in str(err.value)
