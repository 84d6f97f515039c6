"""The paper's network: CaffeNet (AlexNet as in Caffe), with options to shrink it for small images."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from benchbridge.api import LocalResponseNorm, Network, hookimpl

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CUT_POINTS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7")
SMALL_KERNELS, SMALL_HEAD_INIT = 3, "pytorch"  # input_size < 128: the best cell of docs/fidelity.md's table


class AlexNetOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_size: int = Field(227, ge=16, description="Side of the square input crop.")
    width: float = Field(1.0, gt=0, le=4, description="Multiplier on conv channels (1.0 = 96/256/384/384/256).")
    fc_width: int = Field(4096, ge=8, description="Units in fc6 and fc7.")
    dropout: float = Field(0.5, ge=0, lt=1)
    lrn: bool = Field(True, description="Local response normalisation after pool1 and pool2, as in Caffe.")
    init: Literal["caffe", "kaiming"] = Field("caffe", description="Caffe's Gaussian init, or Kaiming.")
    preprocess: Literal["caffe", "standard"] = Field(
        "caffe", description="caffe: 0..255 pixels minus the mean; standard: ImageNet mean/std.")
    small_kernels: Literal[5, 3] | None = Field(
        None, description="input_size < 128 only: side of the conv1 and conv2 kernels (stride 1, same padding); "
        "null: 3 (measured best, docs/fidelity.md; 5 was the default before 0.3). The 227px network keeps the "
        "paper's 11x11/stride 4 and 5x5.")
    head_init: Literal["caffe", "kaiming", "pytorch"] | None = Field(
        None, description="Initialisation of the fc8 head: caffe (Gaussian std 0.01, bias 0), kaiming, pytorch "
        "(nn.Linear's default); null: pytorch when input_size < 128 (measured best, docs/fidelity.md), else as "
        "`init`.")

    @model_validator(mode="after")
    def _small_defaults(self) -> AlexNetOptions:
        """Resolve the small-image defaults into the options, so the run ids of the networks they build change
        with them (an unset option is left out of a run id: a silent default change would reuse old results)."""
        if self.input_size < 128:
            self.small_kernels = self.small_kernels or SMALL_KERNELS
            self.head_init = self.head_init or SMALL_HEAD_INIT
        return self

def _ch(base: int, width: float) -> int:
    return max(2, int(round(base * width / 2)) * 2)  # even, for the two groups of conv2/4/5


def _conv_blocks(o: AlexNetOptions) -> list[tuple[str, nn.Module]]:
    c1, c2, c3, c4, c5 = (_ch(c, o.width) for c in (96, 256, 384, 384, 256))
    small = o.input_size < 128
    k = (o.small_kernels or SMALL_KERNELS) if small else 5  # the validator has set small_kernels when small
    conv1 = nn.Conv2d(3, c1, k, 1, k // 2) if small else nn.Conv2d(3, c1, 11, 4)

    def pool() -> nn.Module:
        return nn.MaxPool2d(3, 2, ceil_mode=True)

    def lrn() -> list[nn.Module]:
        return [LocalResponseNorm(5, alpha=1e-4, beta=0.75)] if o.lrn else []

    relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
    return [
        ("conv1", nn.Sequential(conv1, relu(), pool(), *lrn())),
        ("conv2", nn.Sequential(nn.Conv2d(c1, c2, k, 1, k // 2, groups=2), relu(), pool(), *lrn())),
        ("conv3", nn.Sequential(nn.Conv2d(c2, c3, 3, 1, 1), relu())),
        ("conv4", nn.Sequential(nn.Conv2d(c3, c4, 3, 1, 1, groups=2), relu())),
        ("conv5", nn.Sequential(nn.Conv2d(c4, c5, 3, 1, 1, groups=2), relu(), pool())),
    ]


def _flat_size(blocks: list[tuple[str, nn.Module]], input_size: int) -> int:
    x = torch.zeros(1, 3, input_size, input_size)
    with torch.no_grad():
        for _, block in blocks:
            x = block(x)
    return x.numel()


def _init(module: nn.Module, name: str, how: str) -> None:
    if not isinstance(module, (nn.Conv2d, nn.Linear)):
        return
    if how == "kaiming":
        nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        nn.init.zeros_(module.bias)
        return
    # bvlc_reference_caffenet: gaussian std 0.01 (fc6/fc7: 0.005); bias 1 for conv2/4/5 and fc6/fc7.
    nn.init.normal_(module.weight, std=0.005 if name in ("fc6", "fc7") else 0.01)
    nn.init.constant_(module.bias, 1.0 if name in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0)


def build_alexnet(o: AlexNetOptions, num_classes: int) -> Network:
    blocks = _conv_blocks(o)
    flat = _flat_size(blocks, o.input_size)
    blocks += [
        ("fc6", nn.Sequential(nn.Flatten(), nn.Linear(flat, o.fc_width), nn.ReLU(inplace=True),
                              nn.Dropout(o.dropout))),
        ("fc7", nn.Sequential(nn.Linear(o.fc_width, o.fc_width), nn.ReLU(inplace=True), nn.Dropout(o.dropout))),
    ]
    net = Network(blocks, head=nn.Linear(o.fc_width, num_classes))
    for name, block in zip(net.block_names, net.blocks):
        for m in block.modules():
            _init(m, name, o.init)
    if o.head_init != "pytorch":
        _init(net.head, "fc8", o.head_init or o.init)
    return net


class AlexNet:
    """CaffeNet as in Yosinski et al. 2014: conv1-conv5, fc6, fc7 (cut points n=1..7), fc8 head."""

    name = "alexnet"
    Options = AlexNetOptions
    description = "CaffeNet (Caffe's AlexNet) as in the paper; cut points conv1..conv5, fc6, fc7"

    def create(self, name: str, options: AlexNetOptions, num_classes: int) -> Network:
        return build_alexnet(options, num_classes)

    def cut_points(self, name: str, options: AlexNetOptions) -> list[str]:
        return list(CUT_POINTS)

    def data_config(self, name: str, options: AlexNetOptions) -> dict[str, Any]:
        std = (1 / 255,) * 3 if options.preprocess == "caffe" else IMAGENET_STD
        return {"input_size": options.input_size, "mean": IMAGENET_MEAN, "std": std, "augmentation": "paper"}


@hookimpl
def register_models(register: Any) -> None:
    register(AlexNet())
