"""Models: `list_models(pattern)` and `create_model(name, num_classes, **options)`, timm style."""

from __future__ import annotations

from typing import Any

from benchbridge import registry
from benchbridge.models.network import ModelPlugin, Network

__all__ = ["ModelPlugin", "Network", "create_model", "list_models", "model_data_config"]


def list_models(pattern: str = "*") -> list[str]:
    """Names of the registered models matching a glob pattern."""
    return registry.names("model", pattern)


def create_model(name: str, num_classes: int, **options: Any) -> Network:
    """Build a freshly initialised network with its cut points and a head of `num_classes` outputs."""
    entry = registry.get("model", name)
    opts = registry.validate_options(entry, options, key="model.options")
    return entry.obj.create(name, opts, num_classes)


def model_data_config(name: str, **options: Any) -> dict[str, Any]:
    entry = registry.get("model", name)
    opts = registry.validate_options(entry, options, key="model.options")
    return entry.obj.data_config(name, opts)
