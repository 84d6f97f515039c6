"""The manifest's `data` section and how the augmentation preset is chosen."""

from __future__ import annotations

import pytest

from benchbridge.data.augment import resolve_preset
from benchbridge.errors import UserError
from benchbridge.manifest import Data, resolve


def test_auto_uses_the_model_plugins_preset_and_defaults_to_paper() -> None:
    assert resolve_preset("auto", {"augmentation": "timm"}) == "timm"
    assert resolve_preset("auto", {}) == "paper"
    assert resolve_preset("none", {"augmentation": "timm"}) == "none"


def test_data_section_defaults_and_errors(paper_manifest: dict) -> None:
    assert Data() == Data(augmentation="auto", decode="auto", skip_corrupt=False, images_per_class=None)
    assert resolve(paper_manifest).raw.data == Data()
    with pytest.raises(UserError, match="data.augmentation"):
        resolve({**paper_manifest, "data": {"augmentation": "fancy"}})
    with pytest.raises(UserError, match="data.images_per_class"):
        resolve({**paper_manifest, "data": {"images_per_class": 0}})
