"""The one plugin manager. Bundled and third-party plugins load the same way: entry-point group `benchbridge`."""

from __future__ import annotations

import importlib
import os
from importlib import metadata
from types import ModuleType

import pluggy

from benchbridge import hookspecs
from benchbridge.errors import PluginError

ENTRY_POINT_GROUP = "benchbridge"
LOAD_ENV = "BENCHBRIDGE_LOAD_PLUGINS"
"""Comma-separated plugin names to load (entry-point names). Unset: load all. Empty string: load none."""

# Used only when benchbridge runs from a source tree that was never pip-installed (no entry points).
BUNDLED_FALLBACK = {
    "alexnet": "benchbridge.builtins.alexnet",
    "synthetic": "benchbridge.builtins.synthetic",
    "shards": "benchbridge.builtins.shards",
    "imagenet": "benchbridge.builtins.imagenet",
    "splits": "benchbridge.builtins.splits",
    "strategies": "benchbridge.builtins.strategies",
    "local_executor": "benchbridge.builtins.local_executor",
    "reporters": "benchbridge.builtins.reporters",
    "submitit_executor": "benchbridge.builtins.submitit_executor",
    "analyses": "benchbridge.builtins.analyses",
}

pm = pluggy.PluginManager("benchbridge")
pm.add_hookspecs(hookspecs)

_loaded = False
load_problems: list[str] = []
"""Plugins that failed to load, one sentence each; `benchbridge plugins` shows them."""


def _allowed() -> set[str] | None:
    value = os.environ.get(LOAD_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _check_api(module: ModuleType, name: str, dist: str) -> None:
    wanted = getattr(module, "BENCHBRIDGE_HOOK_API", hookspecs.HOOK_API_VERSION)
    if wanted != hookspecs.HOOK_API_VERSION:
        raise PluginError(
            f"plugin '{name}' (package {dist}) was written for hook API {wanted}, "
            f"but this benchbridge provides hook API {hookspecs.HOOK_API_VERSION}.",
            hint=f"Upgrade or downgrade {dist} to a release made for benchbridge's hook API "
            f"{hookspecs.HOOK_API_VERSION}.",
        )


def _register(module: ModuleType, name: str, dist: str) -> None:
    _check_api(module, name, dist)
    if pm.get_plugin(name) is not None:
        raise PluginError(f"two plugins are named '{name}'; the one from {dist} was not loaded.",
                          hint="Uninstall one of them.")
    pm.register(module, name=name)
    plugin_packages[name] = dist


plugin_packages: dict[str, str] = {}
"""Plugin name -> the distribution (pip package) it came from."""


def _entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def load_plugins() -> None:
    """Load every allowed plugin once; problems are recorded, not raised, so one bad plugin breaks nothing else."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    allowed = _allowed()
    seen: set[str] = set()
    for ep in _entry_points():
        dist = ep.dist.name if ep.dist is not None else "unknown package"
        seen.add(ep.name)
        if allowed is not None and ep.name not in allowed:
            continue
        _load_one(ep.name, dist, ep.load)
    for name, module_name in BUNDLED_FALLBACK.items():
        if name not in seen and (allowed is None or name in allowed):
            _load_one(name, "benchbridge", lambda m=module_name: importlib.import_module(m))


def _load_one(name: str, dist: str, load: object) -> None:
    try:
        module = load()  # type: ignore[operator]
        _register(module, name, dist)
    except PluginError as exc:
        load_problems.append(str(exc))
    except Exception as exc:  # a broken third-party plugin must not break unrelated runs
        load_problems.append(
            f"plugin '{name}' (package {dist}) failed to import: {type(exc).__name__}: {exc}. "
            f"Reinstall or uninstall {dist}."
        )


def reset_plugins() -> None:
    """Unregister everything so the next load_plugins() starts afresh (for tests)."""
    global _loaded
    for name, plugin in list(pm.list_name_plugin()):
        pm.unregister(plugin=plugin, name=name)
    plugin_packages.clear()
    load_problems.clear()
    _loaded = False
