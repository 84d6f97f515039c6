"""Components (models, datasets, splits, strategies, executors, reporters) collected from the loaded plugins."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from benchbridge.errors import PluginError, UserError
from benchbridge.plugins import load_plugins, load_problems, plugin_packages, pm

KINDS: dict[str, str] = {
    "model": "register_models",
    "dataset": "register_datasets",
    "preparation": "register_preparations",
    "split": "register_splits",
    "strategy": "register_strategies",
    "executor": "register_executors",
    "reporter": "register_reporters",
    "logger": "register_loggers",
    "analysis": "register_analyses",
}


class NoOptions(BaseModel):
    """The `Options` of a component that takes none: any key under its `options` is an error."""

    model_config = ConfigDict(extra="forbid")


# Names served by a plugin package that is not bundled: used for a helpful "not installed" message.
KNOWN_PACKAGES: dict[str, str] = {"timm/": "benchbridge-plugin-timm"}


@dataclass(frozen=True)
class Entry:
    """One registered component and the plugin that registered it."""

    kind: str
    name: str
    obj: Any
    plugin: str

    @property
    def is_namespace(self) -> bool:
        return self.name.endswith("/")

    @property
    def description(self) -> str:
        doc = getattr(self.obj, "description", None) or (type(self.obj).__doc__ or "")
        return doc.strip().splitlines()[0] if doc.strip() else ""


_cache: dict[str, dict[str, Entry]] = {}


def _collect(kind: str) -> dict[str, Entry]:
    load_plugins()
    found: dict[str, Entry] = {}
    hook = getattr(pm.hook, KINDS[kind])
    for impl in hook.get_hookimpls():  # registration order (pluggy lists them so; it calls them LIFO)
        def register(obj: Any, _plugin: str = impl.plugin_name) -> None:
            name = obj.name
            if name in found:
                first, second = found[name].plugin, _plugin
                load_problems.append(
                    f"{kind} '{name}' is registered by both plugin '{first}' (package {_package(first)}) and "
                    f"plugin '{second}' (package {_package(second)}); the one from '{first}' is used. "
                    "Uninstall one of them.")
                return
            found[name] = Entry(kind, name, obj, _plugin)
        try:
            impl.function(register=register)
        except Exception as exc:
            load_problems.append(f"plugin '{impl.plugin_name}' (package {_package(impl.plugin_name)}) failed in "
                                 f"{KINDS[kind]}: {type(exc).__name__}: {exc}")
    return found


def _package(plugin: str) -> str:
    return plugin_packages.get(plugin, "unknown package")


def entries(kind: str) -> dict[str, Entry]:
    """All components of one kind, by name."""
    if kind not in _cache:
        _cache[kind] = _collect(kind)
    return _cache[kind]


def clear_cache() -> None:
    _cache.clear()


def names(kind: str, pattern: str = "*") -> list[str]:
    return sorted(n for n in entries(kind) if fnmatch(n, pattern))


def namespace_names(entry: Entry, pattern: str) -> list[str]:
    """Names a namespace entry serves that match `pattern` (its `list_names`, if it has one)."""
    lister = getattr(entry.obj, "list_names", None)
    if not entry.is_namespace or lister is None:
        return []
    return sorted(lister(pattern))


def get(kind: str, name: str, *, key: str | None = None, file: str | None = None) -> Entry:
    """The component `name` of `kind`, or a UserError listing the choices (and the package to install)."""
    found = entries(kind)
    if name in found:
        return found[name]
    for entry in found.values():
        if entry.is_namespace and name.startswith(entry.name):
            return entry
    for prefix, package in KNOWN_PACKAGES.items():
        if name.startswith(prefix):
            raise PluginError(
                f"{kind} '{name}' needs a plugin that is not installed.",
                file=file, key=key, hint=f"Install it with: pip install {package}")
    choices = ", ".join(sorted(found)) or "none"
    raise UserError(f"unknown {kind} '{name}'. Valid choices: {choices}.", file=file, key=key,
                    hint="Run `benchbridge plugins` to see what is installed.")


def validate_options(entry: Entry, options: dict[str, Any] | None, *, key: str,
                     file: str | None = None) -> BaseModel:
    """Validate a component's options with its own pydantic model; errors name the dotted key."""
    model: type[BaseModel] = entry.obj.Options
    try:
        return model.model_validate(options or {})
    except ValidationError as exc:
        raise UserError(format_validation_error(exc, prefix=key), file=file) from None


_UNION_TAG = re.compile(r"^([a-z]+(-[a-z]+)+|[a-z-]+\[.*\]|str|int|float|bool|none|bytes|[A-Z][a-z]+[A-Za-z0-9]*)$")
"""How pydantic names the member of a union it tried ('constrained-int', "literal['auto']", 'str', a model's class
name such as 'Condition'): part of its error locations, not a key the user wrote."""


def _user_path(loc: tuple[Any, ...], extra: bool) -> list[str]:
    """The error location as the user's keys: union member names dropped (an unknown key itself is kept)."""
    parts = [str(p) for p in loc]
    keep = [p for p in parts[:-1] if not _UNION_TAG.match(p)]
    if parts and (extra or not _UNION_TAG.match(parts[-1])):
        keep.append(parts[-1])
    return keep


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """pydantic's errors as 'key 'a.b': what is wrong' for each key, in the user's words."""
    found: dict[str, list[str]] = {}
    for err in exc.errors():
        extra = err["type"] == "extra_forbidden"
        path = ".".join(p for p in (prefix, *_user_path(err["loc"], extra)) if p)
        msg = "unknown key (remove it or check its spelling)" if extra else err["msg"]
        if msg not in found.setdefault(path, []):
            found[path].append(msg)
    return "; ".join(f"key '{path}': {_either(msgs)}" for path, msgs in found.items()) + "."


def _either(messages: list[str]) -> str:
    """One key's messages; the alternatives of a union as one sentence ('Input should be A or B')."""
    lead = "Input should be "
    if len(messages) > 1 and all(m.startswith(lead) for m in messages):
        return lead + " or ".join(m.removeprefix(lead) for m in messages)
    return "; or ".join(messages)
