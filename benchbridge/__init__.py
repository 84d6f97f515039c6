"""benchbridge: the layer-transfer study of Yosinski et al. (NIPS 2014) as a plugin-based benchmark."""

from __future__ import annotations

from typing import Any

from benchbridge.errors import UserError
from benchbridge.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["UserError", "__version__", "create_model", "hookimpl", "list_models"]


def __getattr__(name: str) -> Any:
    """`create_model` and `list_models` (timm's names) load torch: imported on first use."""
    if name in ("create_model", "list_models"):
        from benchbridge import models

        return getattr(models, name)
    raise AttributeError(f"module 'benchbridge' has no attribute '{name}'")
