"""benchbridge plugin: an ImageFolder whose classes belong to superclasses, and splits that keep superclasses whole."""

from __future__ import annotations

from benchbridge_superclass.dataset import SuperclassFolder, read_superclasses
from benchbridge_superclass.split import SuperclassSplit
from benchbridge.api import hookimpl

BENCHBRIDGE_HOOK_API = 1
"""The benchbridge hook API this plugin was written for (see benchbridge.hookspecs.HOOK_API_VERSION)."""


@hookimpl
def register_datasets(register) -> None:  # type: ignore[no-untyped-def]
    register(SuperclassFolder())


@hookimpl
def register_splits(register) -> None:  # type: ignore[no-untyped-def]
    register(SuperclassSplit())


__all__ = ["BENCHBRIDGE_HOOK_API", "SuperclassFolder", "SuperclassSplit", "read_superclasses"]
