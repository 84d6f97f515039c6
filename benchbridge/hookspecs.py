"""The hooks a benchbridge plugin can implement. Each hands the plugin a `register` callback."""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

from pluggy import HookimplMarker, HookspecMarker

HOOK_API_VERSION = 1
"""Bumped when a hook's signature or a registered object's protocol changes incompatibly."""

hookspec = HookspecMarker("benchbridge")
hookimpl = HookimplMarker("benchbridge")

Register = Callable[[Any], None]


@hookspec
def register_models(register: Register) -> None:
    """Register model plugins: objects with `name`, `Options` and `create(name, options, num_classes)`."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register dataset plugins: objects with `name`, `Options` and `open(options)`."""


@hookspec
def register_preparations(register: Register) -> None:
    """Register dataset preparations (`benchbridge data prepare NAME`): `name`, `Options`, `prepare(...)`."""


@hookspec
def register_splits(register: Register) -> None:
    """Register task-split plugins: objects with `name`, `Options` and `split(options, dataset)`."""


@hookspec
def register_strategies(register: Register) -> None:
    """Register transfer strategies: objects with `name`, `Options`, `copies` and `prepare(net, n, source, options)`,
    which copies and freezes blocks and returns the parameter groups to train (one phase), or a `StrategyPlan`:
    phases (which parameters train, at which rate multipliers, for which share of the iterations), how the
    schedule runs across them, and an optional regulariser that keeps the source weights."""


@hookspec
def register_executors(register: Register) -> None:
    """Register executors that run a plan: objects with `name`, `Options` and `execute(...)`."""


@hookspec
def register_reporters(register: Register) -> None:
    """Register reporters that turn results into tables or figures: `name`, `Options`, `report(...)`."""


@hookspec
def register_loggers(register: Register) -> None:
    """Register experiment trackers: objects with `name`, `Options` and `start(run, run_dir, manifest, options)`."""


@hookspec
def register_analyses(register: Register) -> None:
    """Register per-layer analyses for `benchbridge analyze`: objects with `name`, `Options` and `measure(...)`."""
