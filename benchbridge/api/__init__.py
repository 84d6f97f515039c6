"""The public plugin API: everything a plugin, bundled or third-party, may import from benchbridge.

Plugins import only this module (and their own dependencies); a test walks the bundled plugins' imports to keep
it so. The report-level names (`Report`, `render_html`, `render_markdown`) load matplotlib, so they are imported
on first use.
"""

from __future__ import annotations

from typing import Any

from benchbridge.analyze import metrics as analysis_metrics
from benchbridge.analyze.base import AnalysisPlugin, Context as AnalysisContext, FinetunedWeights, Series
from benchbridge.data.base import INDEX_FILE, ClassInfo, DatasetPlugin, DatasetSource, PreparationPlugin
from benchbridge.data.imagefolder import convert_imagefolder, count_images, find_layout
from benchbridge.data.imagenet import convert_imagenet, count_imagenet
from benchbridge.data.prepare import EncodingOptions
from benchbridge.data.shards import DEFAULT_SHARD_SIZE, OnProgress, read_index, write_dataset
from benchbridge.data.shards import open_dataset as open_shards
from benchbridge.data.synthetic import class_infos as synthetic_classes
from benchbridge.data.synthetic import prepare_params as synthetic_params
from benchbridge.data.synthetic import prepare_synthetic
from benchbridge.errors import PluginError, UserError
from benchbridge.execute.context import RunContext
from benchbridge.execute.devices import check_gpu_indices, worker_count
from benchbridge.execute.job import Job
from benchbridge.execute.parallel import LOG_FILE as WORKER_LOG_FILE
from benchbridge.execute.parallel import cpu_pool, run_parallel
from benchbridge.hookspecs import HOOK_API_VERSION, Register, hookimpl
from benchbridge.models.base import ModelPlugin, Network
from benchbridge.plan import Run
from benchbridge.registry import NoOptions
from benchbridge.splits import Split, SplitKind, SplitPlugin
from benchbridge.store import atomic_write, write_json, write_text
from benchbridge.strategies import ParamGroups, StrategyPlugin, block_params, copy_blocks, rest_params

from benchbridge.record import RunRecord

from benchbridge.api._protocols import ExecutorPlugin, LoggerPlugin, ReporterPlugin, RunLogger

_LAZY = {"Report": ("benchbridge.report.build", "Report"),
         "render_html": ("benchbridge.report.html", "render"),
         "render_markdown": ("benchbridge.report.markdown", "render")}

__all__ = [
    # hooks
    "HOOK_API_VERSION", "NoOptions", "Register", "hookimpl",
    # errors
    "PluginError", "UserError",
    # models
    "ModelPlugin", "Network",
    # datasets
    "ClassInfo", "DEFAULT_SHARD_SIZE", "DatasetPlugin", "DatasetSource", "INDEX_FILE", "convert_imagefolder",
    "find_layout", "open_shards", "prepare_synthetic", "read_index", "synthetic_classes", "synthetic_params",
    # dataset preparations (`benchbridge data prepare NAME`)
    "EncodingOptions", "OnProgress", "PreparationPlugin", "convert_imagenet", "count_imagenet", "count_images",
    "write_dataset",
    # splits and strategies
    "ParamGroups", "Split", "SplitKind", "SplitPlugin", "StrategyPlugin", "block_params", "copy_blocks", "rest_params",
    # executors
    "ExecutorPlugin", "Job", "Run", "RunContext", "WORKER_LOG_FILE", "check_gpu_indices", "cpu_pool", "run_parallel",
    "worker_count",
    # results
    "RunRecord",
    # reporters
    "Report", "ReporterPlugin", "atomic_write", "render_html", "render_markdown", "write_json", "write_text",
    # per-layer analyses (benchbridge analyze)
    "AnalysisContext", "AnalysisPlugin", "FinetunedWeights", "Series", "analysis_metrics",
    # loggers
    "LoggerPlugin", "RunLogger",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'benchbridge.api' has no attribute '{name}'")
