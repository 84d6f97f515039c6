"""Where output goes: progress, logs and warnings to stderr (rich); tables and --json output to stdout."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from benchbridge.results.store import strict

err_console = Console(stderr=True)
out_console = Console()  # human-readable tables; with --json, stdout holds only JSON


def print_json(data: Any) -> None:
    click.echo(json.dumps(strict(data), indent=2, default=str, allow_nan=False))


def overrides_argument(f: Any) -> Any:
    return click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")(f)


def manifest_argument(f: Any) -> Any:
    return click.argument("manifest", type=click.Path(dir_okay=False))(f)


def say(label: str, style: str, message: str) -> None:
    """A labelled line on stderr; the message is printed as is (brackets in it are not rich markup)."""
    err_console.print(Text.assemble((label, style), " ", message), highlight=False, soft_wrap=True)
