"""Cut points from timm's feature_info; blocks compose to timm's own forward pass; head reset; BN frozen."""

import pytest
import torch

pytest.importorskip("benchbridge_timm")

from benchbridge.api import UserError  # noqa: E402
from benchbridge.api import Network  # noqa: E402
from benchbridge_timm.plugin import TimmModels, TimmOptions, _build, _meta  # noqa: E402
from benchbridge_timm.structure import assemble  # noqa: E402

# family -> (name, options for a small CPU input, expected cut points)
FAMILIES = {
    "resnet": ("timm/resnet18", {"input_size": 32}, ["act1", "layer1", "layer2", "layer3", "layer4"]),
    "convnext": ("timm/convnext_atto", {"input_size": 32}, ["stages.0", "stages.1", "stages.2", "stages.3"]),
    "efficientnet": ("timm/efficientnet_b0", {"input_size": 32},
                     ["blocks.0", "blocks.1", "blocks.2", "blocks.4", "blocks.6"]),
    "vit": ("timm/vit_tiny_patch16_224", {"input_size": 32, "model_kwargs": {"img_size": 32}},
            [f"blocks.{i}" for i in range(12)]),
}
# timm's own tiny test models of each family, for the (slower) forward-equivalence checks
SMALL = {
    "resnet": ("timm/test_resnet", {"input_size": 32}),
    "convnext": ("timm/test_convnext", {"input_size": 32}),
    "efficientnet": ("timm/test_efficientnet", {"input_size": 32}),
    "vit": ("timm/test_vit", {"input_size": 32, "model_kwargs": {"img_size": 32}}),
}
PLUGIN = TimmModels()


def opts(options: dict) -> TimmOptions:
    return TimmOptions.model_validate(options)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_cut_points_are_timms_feature_modules(family):
    name, options, expected = FAMILIES[family]
    assert PLUGIN.cut_points(name, opts(options)) == expected


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_blocks_compose_to_forward_features_and_head_to_forward(family):
    name, options = SMALL[family]
    o = opts(options)
    structure, _ = _meta(name, o.model_dump_json())
    torch.manual_seed(0)
    model = _build(name, o, 7, meta=False).eval()
    blocks, head = assemble(model, structure)
    net = Network(blocks, head).eval()
    assert net.cut_points == structure.cut_points and len(net.cut_points) >= 4
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        y = x
        for block in net.blocks:
            y = block(y)
        torch.testing.assert_close(y, model.forward_features(x))
        out = net(x)
        torch.testing.assert_close(out, model(x))
    assert out.shape == (2, 7)
    # every timm tensor appears exactly once in the network (nothing duplicated, nothing lost)
    assert sum(t.numel() for t in net.state_dict().values()) == sum(t.numel() for t in model.state_dict().values())


def test_create_resets_the_head_for_the_target_classes():
    net = PLUGIN.create("timm/resnet18", opts({"input_size": 32}), 5)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    assert net.cut_points == ["act1", "layer1", "layer2", "layer3", "layer4"]


def test_frozen_blocks_keep_batchnorm_statistics_fixed():
    net = PLUGIN.create("timm/resnet10t", opts({"input_size": 32}), 4)
    net.freeze_prefix(2)
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items() if "running_mean" in k}
    loss = net(torch.randn(8, 3, 32, 32)).sum()
    loss.backward()
    after = net.state_dict()
    frozen = [k for k in before if k.startswith(("blocks.0.", "blocks.1."))]
    later = [k for k in before if k.startswith("blocks.2.")]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert later and not all(torch.equal(before[k], after[k]) for k in later)
    assert all(p.grad is None for p in net.blocks[:2].parameters())
    assert all(p.grad is not None for p in net.blocks[2].parameters())


def test_data_config_comes_from_timm_and_input_size_overrides_it():
    default = PLUGIN.data_config("timm/resnet18", opts({}))
    assert default["input_size"] == 224 and default["augmentation"] == "timm"
    assert default["mean"] == pytest.approx((0.485, 0.456, 0.406))
    vit = PLUGIN.data_config("timm/vit_small_patch16_224", opts({}))
    assert vit["mean"] == pytest.approx((0.5, 0.5, 0.5))  # timm's config for this ViT, not ImageNet's
    assert PLUGIN.data_config("timm/resnet18", opts({"input_size": 32}))["input_size"] == 32


def test_checkpoint_loads_local_weights_and_skips_the_old_classifier(tmp_path):
    import timm

    source = timm.create_model("resnet10t", pretrained=False, num_classes=1000)
    path = tmp_path / "resnet10t.pth"
    torch.save(source.state_dict(), path)
    net = PLUGIN.create("timm/resnet10t", opts({"input_size": 32, "checkpoint": str(path)}), 3)
    first_conv = net.blocks[0][0][0].weight  # act1 block: conv1 (a Sequential stem in resnet10t)
    torch.testing.assert_close(first_conv, source.conv1[0].weight)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 3)


def test_checkpoint_errors_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        PLUGIN.create("timm/resnet10t", opts({"checkpoint": str(tmp_path / "missing.pth")}), 3)
    import timm

    other = tmp_path / "other.pth"
    torch.save(timm.create_model("test_resnet", pretrained=False).state_dict(), other)
    with pytest.raises(UserError, match="does not fit"):
        PLUGIN.create("timm/resnet10t", opts({"checkpoint": str(other)}), 3)


def test_unknown_timm_model_is_a_user_error():
    with pytest.raises(UserError, match="timm has no model 'resnet_nope'"):
        PLUGIN.cut_points("timm/resnet_nope", opts({}))
