"""The public plugin API: everything a plugin, bundled or third-party, may import from benchbridge.

Plugins import only this module (and their own dependencies); a test walks the bundled plugins' imports to keep
it so. Importing it is light: each name is imported from its module on first use (`_NAMES` says where), so a plugin
that only registers a split does not load torch, the loader or matplotlib. Type checkers see the imports below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what `_NAMES` resolves to, for type checkers and readers
    from benchbridge.analyze import metrics as analysis_metrics
    from benchbridge.analyze.base import AnalysisPlugin, Context as AnalysisContext, FinetunedWeights, Series
    from benchbridge.data.ilsvrc import convert_imagenet, count_imagenet
    from benchbridge.data.imagefolder import convert_imagefolder, count_images, find_layout
    from benchbridge.data.parallel_write import write_dataset_parallel
    from benchbridge.data.prepare import EncodingOptions, shrink_to_jpeg
    from benchbridge.data.shard_files import DEFAULT_SHARD_SIZE, OnProgress, read_index, write_dataset
    from benchbridge.data.shard_files import open_dataset as open_shards
    from benchbridge.data.source import INDEX_FILE, ClassInfo, DatasetPlugin, DatasetSource, PreparationPlugin
    from benchbridge.data.synthetic_images import class_infos as synthetic_classes
    from benchbridge.data.synthetic_images import prepare_params as synthetic_params
    from benchbridge.data.synthetic_images import prepare_synthetic
    from benchbridge.errors import PluginError, UserError
    from benchbridge.execute.context import LoggerPlugin, RunContext, RunLogger
    from benchbridge.execute.devices import check_gpu_indices, worker_count
    from benchbridge.execute.job import ExecutorPlugin, Job
    from benchbridge.hookspecs import HOOK_API_VERSION, Register, hookimpl
    from benchbridge.manifest import ResolvedManifest
    from benchbridge.models.lrn import LocalResponseNorm
    from benchbridge.models.network import ModelPlugin, Network
    from benchbridge.plan import Run
    from benchbridge.registry import NoOptions
    from benchbridge.report.build import Report, ReporterPlugin
    from benchbridge.report.html import render as render_html
    from benchbridge.report.markdown import render as render_markdown
    from benchbridge.results.record import RunRecord
    from benchbridge.atomic import atomic_write, write_json, write_text
    from benchbridge.transfer.blocks import ParamGroups, StrategyPlugin, block_params, blocks_params, copy_blocks
    from benchbridge.transfer.blocks import head_params, rest_params
    from benchbridge.transfer.halves import Split, SplitKind, SplitPlugin
    from benchbridge.transfer.phases import Phase, Regulariser, StrategyPlan

_NAMES: dict[str, tuple[str, str | None]] = {}
"""Public name -> (module, attribute in it; None: the module itself)."""


def _public(module: str, *names: str, **renamed: str) -> None:
    _NAMES.update({name: (module, name) for name in names})
    _NAMES.update({name: (module, attr) for name, attr in renamed.items()})


# hooks and errors
_public("benchbridge.hookspecs", "HOOK_API_VERSION", "Register", "hookimpl")
_public("benchbridge.registry", "NoOptions")
_public("benchbridge.errors", "PluginError", "UserError")
# models
_public("benchbridge.models.network", "ModelPlugin", "Network")
_public("benchbridge.models.lrn", "LocalResponseNorm")
# datasets and their preparations (`benchbridge data prepare NAME`)
_public("benchbridge.data.source", "ClassInfo", "DatasetPlugin", "DatasetSource", "INDEX_FILE", "PreparationPlugin")
_public("benchbridge.data.shard_files", "DEFAULT_SHARD_SIZE", "OnProgress", "read_index", "write_dataset",
        open_shards="open_dataset")
_public("benchbridge.data.parallel_write", "write_dataset_parallel")
_public("benchbridge.data.imagefolder", "convert_imagefolder", "count_images", "find_layout")
_public("benchbridge.data.ilsvrc", "convert_imagenet", "count_imagenet")
_public("benchbridge.data.prepare", "EncodingOptions", "shrink_to_jpeg")
_public("benchbridge.data.synthetic_images", "prepare_synthetic", synthetic_classes="class_infos",
        synthetic_params="prepare_params")
# splits and strategies
_public("benchbridge.transfer.halves", "Split", "SplitKind", "SplitPlugin")
_public("benchbridge.transfer.blocks", "ParamGroups", "StrategyPlugin", "block_params", "blocks_params", "copy_blocks",
        "head_params", "rest_params")
_public("benchbridge.transfer.phases", "Phase", "Regulariser", "StrategyPlan")
# executors: the job (its typed manifest, its runs), each run's context, devices
_public("benchbridge.execute.job", "ExecutorPlugin", "Job")
_public("benchbridge.execute.context", "LoggerPlugin", "RunContext", "RunLogger")
_public("benchbridge.execute.devices", "check_gpu_indices", "worker_count")
_public("benchbridge.manifest", "ResolvedManifest")
_public("benchbridge.plan", "Run")
# results and reporters
_public("benchbridge.results.record", "RunRecord")
_public("benchbridge.atomic", "atomic_write", "write_json", "write_text")
_public("benchbridge.report.build", "Report", "ReporterPlugin")
_public("benchbridge.report.html", render_html="render")
_public("benchbridge.report.markdown", render_markdown="render")
# per-layer analyses (benchbridge analyze)
_public("benchbridge.analyze.base", "AnalysisPlugin", "FinetunedWeights", "Series", AnalysisContext="Context")
_NAMES["analysis_metrics"] = ("benchbridge.analyze.metrics", None)

__all__ = list(_NAMES)  # grouped by concern, as above


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'benchbridge.api' has no attribute '{name}'")
    module, attr = _NAMES[name]
    value = importlib.import_module(module) if attr is None else getattr(importlib.import_module(module), attr)
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_NAMES})
