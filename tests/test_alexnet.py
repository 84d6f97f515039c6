"""The bundled model is CaffeNet as in the paper, and shrinks for small images without changing its shape."""

import torch
from torch import nn

from benchbridge import create_model, list_models
from benchbridge.builtins.alexnet import CUT_POINTS

PAPER_CUTS = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]


def test_caffenet_geometry_and_parameter_count():
    net = create_model("alexnet", num_classes=1000)
    assert net.cut_points == PAPER_CUTS == list(CUT_POINTS)
    assert sum(p.numel() for p in net.parameters()) == 60_965_224  # CaffeNet's 61M parameters
    convs = [m for b in net.blocks[:5] for m in b.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert convs[0].kernel_size == (11, 11) and convs[0].stride == (4, 4)
    assert net.blocks[5][1].in_features == 256 * 6 * 6
    assert net(torch.zeros(1, 3, 227, 227)).shape == (1, 1000)


def test_caffe_layer_order_pool_then_lrn():
    net = create_model("alexnet", num_classes=10)
    kinds = [type(m).__name__ for m in net.blocks[0]]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d", "LocalResponseNorm"]
    assert [type(m).__name__ for m in net.blocks[5]] == ["Flatten", "Linear", "ReLU", "Dropout"]


def test_small_version_keeps_the_structure():
    net = create_model("alexnet", num_classes=7, input_size=28, width=0.125, fc_width=64)
    assert net.cut_points == PAPER_CUTS
    assert net(torch.zeros(2, 3, 28, 28)).shape == (2, 7)
    assert "alexnet" in list_models("alex*")


def test_small_kernel_and_head_init_options():
    three = create_model("alexnet", num_classes=5, input_size=28, width=0.25, fc_width=64, small_kernels=3,
                         head_init="pytorch", init="kaiming")
    assert [three.blocks[i][0].kernel_size for i in (0, 1)] == [(3, 3), (3, 3)]
    assert three(torch.zeros(2, 3, 28, 28)).shape == (2, 5)
    bound = 1 / 64 ** 0.5  # nn.Linear's default: uniform within 1/sqrt(fan_in), bias too
    assert three.head.weight.abs().max() <= bound and three.head.bias.abs().max() > 0
    caffe = create_model("alexnet", num_classes=5, input_size=28, width=0.25, fc_width=64, head_init="caffe",
                         small_kernels=5, init="kaiming")
    assert [caffe.blocks[i][0].kernel_size for i in (0, 1)] == [(5, 5), (5, 5)]
    assert abs(caffe.head.weight.std().item() - 0.01) < 0.002 and not caffe.head.bias.any()
    paper = create_model("alexnet", num_classes=5, small_kernels=3)  # 227px: the paper's network, unchanged
    assert paper.blocks[0][0].kernel_size == (11, 11) and paper.blocks[1][0].kernel_size == (5, 5)


def test_small_inputs_default_to_the_measured_best_network_and_say_so_in_their_options():
    from benchbridge.builtins.alexnet import AlexNetOptions
    small = AlexNetOptions(input_size=28, init="kaiming")
    assert (small.small_kernels, small.head_init) == (3, "pytorch")  # resolved: part of the run id
    net = create_model("alexnet", num_classes=5, input_size=28, width=0.25, fc_width=64, init="kaiming")
    assert [net.blocks[i][0].kernel_size for i in (0, 1)] == [(3, 3), (3, 3)]
    assert net.head.weight.abs().max() <= 1 / 64 ** 0.5 and net.head.bias.abs().max() > 0
    old = create_model("alexnet", num_classes=5, input_size=28, width=0.25, fc_width=64, init="kaiming",
                       small_kernels=5, head_init="kaiming")  # the network before the default changed
    assert old.blocks[0][0].kernel_size == (5, 5) and not old.head.bias.any()
    assert old.head.weight.std().item() > 1.2 / 64 ** 0.5  # kaiming: std sqrt(2 / fan_in) = 1.41 / 8
    paper = AlexNetOptions()
    assert (paper.small_kernels, paper.head_init) == (None, None)  # 227px: untouched, ids unchanged
