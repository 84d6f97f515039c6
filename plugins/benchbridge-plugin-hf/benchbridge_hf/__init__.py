"""benchbridge plugin: a Hugging Face dataset on disk (a `save_to_disk` folder or parquet files) as prepared shards,
offline only. `datasets` is imported only when a preparation runs."""

from __future__ import annotations

from benchbridge_hf.preparation import HfPreparation, register_preparations

BENCHBRIDGE_HOOK_API = 1
"""The benchbridge hook API this plugin was written for (see benchbridge.hookspecs.HOOK_API_VERSION)."""

__all__ = ["BENCHBRIDGE_HOOK_API", "HfPreparation", "register_preparations"]
