"""Results on disk: where a run's files lie and how they are written (`store`), the run's typed record
(`record`), reading a results directory (`directory`) and exporting it as a table (`tabular`).

Everything downstream of training (status, report, export, analyze) reads results through this package; no other
module parses a run's metrics.json. The names of `directory` are re-exported here, and imported on first use, so that
`benchbridge.results.store` stays light for the modules that only write files.
"""

from __future__ import annotations

import importlib
from typing import Any

_DIRECTORY = ("Result", "blocked_runs", "broken", "load_results", "record_by_id", "record_of", "run_states",
            "saved_manifest", "set_aside_damaged", "unhealthy")

__all__ = list(_DIRECTORY)


def __getattr__(name: str) -> Any:
    if name in _DIRECTORY:
        return getattr(importlib.import_module("benchbridge.results.directory"), name)
    raise AttributeError(f"module 'benchbridge.results' has no attribute '{name}'")
