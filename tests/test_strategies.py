"""Strategies: frozen blocks never change (and get no gradient), fine-tuned ones do, random_frozen keeps its init."""

import pytest
import torch
import torch.nn.functional as F

from benchbridge.builtins.alexnet import AlexNetOptions, build_alexnet
from benchbridge.builtins.strategies import Finetune, FinetuneOptions, Frozen, NoOptions, RandomFrozen, Scratch
from benchbridge.manifest import Training
from benchbridge.execute.optimize import make_optimizer

OPTS = AlexNetOptions(input_size=16, width=0.125, fc_width=32, init="kaiming", preprocess="standard")


def net(seed):
    torch.manual_seed(seed)
    return build_alexnet(OPTS, num_classes=4)


def train_some(model, groups, steps=3):
    opt = make_optimizer(groups, Training(lr=0.05, epochs=1, batch_size=8))
    model.train()
    for i in range(steps):
        torch.manual_seed(100 + i)
        x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 4, (8,))
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def blocks_state(model, start, stop):
    return {k: v.clone() for k, v in model.state_dict().items()
            if k.startswith(tuple(f"blocks.{i}." for i in range(start, stop)))}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("n", [1, 3, 7])
def test_frozen_copies_then_never_changes_the_first_n_blocks(n):
    source = net(0)
    target = net(1)
    groups = Frozen().prepare(target, n, source.state_dict(), NoOptions())
    copied = blocks_state(target, 0, n)
    assert same(copied, blocks_state(source, 0, n))
    rest_before = blocks_state(target, n, 7)
    train_some(target, groups)
    assert same(blocks_state(target, 0, n), copied)
    assert all(p.grad is None for b in target.blocks[:n] for p in b.parameters())
    if n < 7:
        assert not same(blocks_state(target, n, 7), rest_before)


def test_frozen_prefix_runs_without_autograd():
    target = net(1)
    Frozen().prepare(target, 3, net(0).state_dict(), NoOptions())
    seen = []
    target.blocks[2].register_forward_hook(lambda m, i, o: seen.append(o.requires_grad))
    target.blocks[3].register_forward_hook(lambda m, i, o: seen.append(o.requires_grad))
    target.train()
    target(torch.randn(2, 3, 16, 16))
    assert seen == [False, True]


def test_finetune_copies_and_then_trains_copied_blocks():
    source = net(0)
    target = net(1)
    groups = Finetune().prepare(target, 3, source.state_dict(), FinetuneOptions(lr_mult=0.5))
    assert same(blocks_state(target, 0, 3), blocks_state(source, 0, 3))
    assert [g["lr_mult"] for g in groups] == [0.5, 1.0]
    train_some(target, groups)
    assert not same(blocks_state(target, 0, 3), blocks_state(source, 0, 3))


def test_finetune_zero_multiplier_acts_like_frozen_weights():
    target = net(1)
    groups = Finetune().prepare(target, 2, net(0).state_dict(), FinetuneOptions(lr_mult=0.0))
    before = blocks_state(target, 0, 2)
    train_some(target, groups)
    assert same(blocks_state(target, 0, 2), before)


def test_random_frozen_keeps_its_initialisation():
    target = net(1)
    init = blocks_state(target, 0, 4)
    groups = RandomFrozen().prepare(target, 4, None, NoOptions())
    train_some(target, groups)
    assert same(blocks_state(target, 0, 4), init)
    assert same(init, blocks_state(net(1), 0, 4))


def test_scratch_trains_every_block():
    target = net(1)
    before = blocks_state(target, 0, 7)
    train_some(target, Scratch().prepare(target, 0, None, NoOptions()))
    after = blocks_state(target, 0, 7)
    assert all(not torch.equal(before[k], after[k]) for k in before if k.endswith("weight"))
