"""The `benchbridge` command. Each command group lives in its own module and calls one library function."""

from __future__ import annotations

import sys
from typing import Any

import click

from benchbridge.cli._console import say
from benchbridge.errors import UserError
from benchbridge.plugins import load_problems


class Group(click.Group):
    """Turns a UserError into one clear paragraph on stderr and exit status 2 (never a traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            say("Error:", "bold red", str(exc))
            sys.exit(2)
        finally:
            if ctx.invoked_subcommand != "plugins":
                for problem in load_problems:
                    say("warning:", "yellow", problem)


@click.group(cls=Group)
@click.version_option(package_name="benchbridge")
def main() -> None:
    """benchbridge: which layers of which backbone transfer between which tasks (Yosinski et al. 2014)."""


def _add_commands() -> None:
    from benchbridge.cli import data, export, plugin_list, report, run, validate

    for module in (run, validate, report, export, plugin_list):
        for command in module.COMMANDS:
            main.add_command(command)
    main.add_command(data.data)
    from benchbridge.cli import analyze

    main.add_command(analyze.analyze)
    from benchbridge.cli import plugin_dev

    main.add_command(plugin_dev.plugin)


_add_commands()
