"""benchbridge plugin: every model `timm.create_model` can build, as `timm/<name>`, cut at timm's own stages."""

from __future__ import annotations

from benchbridge_timm.plugin import TimmModels, register_models

BENCHBRIDGE_HOOK_API = 1
"""The benchbridge hook API this plugin was written for (see benchbridge.hookspecs.HOOK_API_VERSION)."""

__all__ = ["BENCHBRIDGE_HOOK_API", "TimmModels", "register_models"]
