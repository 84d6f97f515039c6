"""benchbridge's LocalResponseNorm gives torch's outputs and gradients bit for bit, in both memory layouts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchbridge.models import create_model
from benchbridge.models.lrn import LocalResponseNorm

SHAPES = [(16, 24, 14, 14), (4, 64, 7, 7), (4, 3, 5, 5), (2, 1, 3, 3)]


def _forward_backward(module: nn.Module, x0: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
    x = x0.clone().requires_grad_(True)
    y = module(x)
    y.backward(grad)
    assert x.grad is not None
    return y.detach(), x.grad, torch.tensor(y.stride()), torch.tensor(x.grad.stride())


@pytest.mark.parametrize("size", [5, 4, 7])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_outputs_gradients_and_strides_are_torchs_bit_for_bit(size: int, shape: tuple[int, ...],
                                                              layout: torch.memory_format) -> None:
    gen = torch.Generator().manual_seed(size * 100 + shape[1])
    x0 = torch.randn(shape, generator=gen).contiguous(memory_format=layout)
    grad = torch.randn(shape, generator=gen)
    ours = _forward_backward(LocalResponseNorm(size, 1e-4, 0.75, 1.0), x0, grad)
    torchs = _forward_backward(nn.LocalResponseNorm(size, 1e-4, 0.75, 1.0), x0, grad)
    for a, b in zip(ours, torchs, strict=True):
        assert torch.equal(a, b)


def test_a_window_wider_than_the_channels_still_matches() -> None:
    x = torch.randn(3, 2, 4, 4)
    assert torch.equal(LocalResponseNorm(9)(x), nn.LocalResponseNorm(9)(x))


def test_the_paper_network_uses_it() -> None:
    net = create_model("alexnet", 5, input_size=32, width=0.25, fc_width=64)
    lrns = [m for m in net.modules() if isinstance(m, nn.LocalResponseNorm)]
    assert lrns and all(isinstance(m, LocalResponseNorm) for m in lrns)
