"""Reading a manifest file: bounded before it is parsed (size, nesting), YAML, then `key=value` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from benchbridge.errors import UserError


MAX_MANIFEST_BYTES = 1 << 20
"""A manifest larger than this (1 MiB; the paper's is 3 KB) is refused before it is parsed."""
MAX_NESTING = 32
"""Mappings and lists nested deeper than this are refused before the document is built (the paper's: 5 deep)."""
_EVENTS_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: a fast first pass


def check_nesting(text: str, file: str | None, key: str | None = None) -> None:
    """Refuse YAML nested more than MAX_NESTING deep, from its event stream (nothing is built, nothing recurses)."""
    depth = 0
    for event in yaml.parse(text, Loader=_EVENTS_LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_NESTING:
                mark = event.start_mark
                raise UserError(f"mappings and lists are nested more than {MAX_NESTING} deep (at line {mark.line + 1}"
                                f", column {mark.column + 1}); a manifest needs about 5.", file=file, key=key,
                                hint="Is this the right file?")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _read_bounded(path: Path) -> str:
    """The file's text, refused when larger than MAX_MANIFEST_BYTES or not UTF-8."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise UserError(f"the file is larger than {MAX_MANIFEST_BYTES} bytes (1 MiB), the limit for a manifest; "
                        "it is not read.", file=str(path),
                        hint="Is this the right file? (The paper's manifest is 3 KB.)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}).", file=str(path),
                        hint="Save the manifest as UTF-8 text.") from None


def read_yaml(path: Path) -> dict[str, Any]:
    """A manifest file as a dict: bounded in size and nesting before it is parsed (MAX_MANIFEST_BYTES, MAX_NESTING)."""
    if not path.is_file():
        raise UserError("file not found.", file=str(path), hint="Check the path to the manifest.")
    text = _read_bounded(path)
    try:
        check_nesting(text, str(path))
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"not valid YAML{where}: {problem}.", file=str(path),
                        hint="Fix the YAML syntax (indentation, colons, quotes).") from None
    if not isinstance(data, dict):
        raise UserError("a manifest must be a YAML mapping of keys such as name, dataset, model, splits.",
                        file=str(path))
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str], file: str | None = None) -> dict[str, Any]:
    """Apply `dotted.key=value` overrides (value parsed as YAML; list items by index) before validation."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"override '{item}' is not of the form key=value (e.g. training.epochs=2).",
                            file=file)
        try:
            check_nesting(raw, file, key)
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        _set_path(data, key.split("."), value, item, file)
    return data


def _set_path(node: Any, parts: list[str], value: Any, item: str, file: str | None) -> None:
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise UserError(f"override '{item}': '{part}' is not an index of a list of {len(node)} items.",
                                file=file, key=".".join(parts[: i + 1]))
            if last:
                node[int(part)] = value
                return
            node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
                return
            node = node.setdefault(part, {})
        else:
            raise UserError(f"override '{item}': '{'.'.join(parts[:i])}' is not a mapping or list.",
                            file=file, key=".".join(parts[: i + 1]))


