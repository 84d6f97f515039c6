"""`plugins` and `models`: what the installed plugins provide."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from benchbridge import registry
from benchbridge.cli._console import say, out_console, print_json
from benchbridge.plugins import load_plugins, load_problems, plugin_packages


def plugins_info() -> list[dict[str, Any]]:
    """Each loaded plugin, its package and what it provides (with each component's option schema)."""
    load_plugins()
    info: dict[str, dict[str, Any]] = {name: {"name": name, "package": pkg, "provides": {}}
                                       for name, pkg in plugin_packages.items()}
    for kind in registry.KINDS:
        for entry in registry.entries(kind).values():
            item = {"name": entry.name, "description": entry.description,
                    "options": entry.obj.Options.model_json_schema()}
            info.setdefault(entry.plugin, {"name": entry.plugin, "package": "?", "provides": {}})
            info[entry.plugin]["provides"].setdefault(kind, []).append(item)
    return sorted(info.values(), key=lambda p: p["name"])


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON to stdout.")
def plugins(as_json: bool) -> None:
    """List the loaded plugins and the models, datasets, splits, strategies and executors they provide."""
    info = plugins_info()
    if as_json:
        print_json({"plugins": info, "problems": list(load_problems)})
        return
    table = Table("plugin", "package", "provides", title="benchbridge plugins")
    for p in info:
        provides = "; ".join(f"{kind}: {', '.join(i['name'] for i in items)}" for kind, items in p["provides"].items())
        table.add_row(p["name"], p["package"], provides or "-")
    out_console.print(table)
    for problem in load_problems:
        say("warning:", "yellow", problem)


@click.command()
@click.argument("pattern", default="*")
@click.option("--cut-points", "cut_points", is_flag=True, help="Show each model's cut points.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON to stdout.")
def models(pattern: str, cut_points: bool, as_json: bool) -> None:
    """List models matching PATTERN (a glob), optionally with their cut points (default options)."""
    rows = []
    for name in _model_names(pattern):
        entry = registry.get("model", name)
        described = entry.description if name == entry.name else f"from namespace {entry.name}"
        row: dict[str, Any] = {"name": name, "plugin": entry.plugin, "description": described}
        if cut_points and not name.endswith("/"):
            row["cut_points"] = entry.obj.cut_points(name, entry.obj.Options())
        rows.append(row)
    if not rows and any(pattern.startswith(p) for p in registry.KNOWN_PACKAGES):
        registry.get("model", pattern)  # raises "needs a plugin that is not installed" with the package name
    if as_json:
        print_json(rows)
        return
    for row in rows:
        cuts = f"  [{', '.join(row['cut_points'])}]" if "cut_points" in row else ""
        out_console.print(f"{row['name']} ({row['plugin']}): {row['description']}{cuts}", markup=False,
                          highlight=False)


def _model_names(pattern: str) -> list[str]:
    """Registered names matching PATTERN; a pattern inside a namespace (e.g. 'timm/*resnet*') lists its names."""
    found = registry.names("model", pattern)
    for entry in registry.entries("model").values():
        if entry.is_namespace and pattern.startswith(entry.name) and pattern != entry.name:
            found += [n for n in registry.namespace_names(entry, pattern) if n not in found]
    return found


COMMANDS = [plugins, models]
