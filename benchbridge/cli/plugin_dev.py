"""`plugin hooks` (the hook reference, generated from the hookspecs) and `plugin new NAME` (a plugin package)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import click

from benchbridge import hookspecs
from benchbridge.errors import UserError

# What each hook's `register` callback receives: the protocol classes in benchbridge.api.
PROTOCOLS = {
    "register_models": ("ModelPlugin",),
    "register_datasets": ("DatasetPlugin",),
    "register_preparations": ("PreparationPlugin",),
    "register_splits": ("SplitPlugin",),
    "register_strategies": ("StrategyPlugin", "StrategyPlan", "Phase"),
    "register_executors": ("ExecutorPlugin",),
    "register_reporters": ("ReporterPlugin",),
    "register_loggers": ("LoggerPlugin", "RunLogger"),
    "register_analyses": ("AnalysisPlugin",),
}


def hook_names() -> list[str]:
    """Every hookspec in benchbridge.hookspecs, in source order."""
    found = [(inspect.getsourcelines(f)[1], n) for n, f in vars(hookspecs).items()
             if inspect.isfunction(f) and n.startswith("register_")]
    return [n for _, n in sorted(found)]


def _protocol_section(name: str) -> list[str]:
    from benchbridge import api

    cls = getattr(api, name)
    what = "The object's protocol" if name.endswith(("Plugin", "Logger")) else "What it returns or uses"
    return [f"{what}, `benchbridge.api.{name}`:", "", "```python", inspect.getsource(cls).rstrip(), "```", ""]


def _summary(obj: object) -> str:
    if isinstance(obj, (int, str)):
        return f"constant: `{obj!r}`"
    if inspect.ismodule(obj):
        return f"module `{obj.__name__}`: " + (inspect.getdoc(obj) or "").split("\n")[0]
    if not (inspect.isfunction(obj) or inspect.isclass(obj) or callable(obj)) or hasattr(obj, "__origin__"):
        return f"type: `{obj}`".replace("collections.abc.", "").replace("typing.", "")
    doc = inspect.getdoc(obj)
    return doc.strip().splitlines()[0] if doc else "(undocumented)"


def api_reference() -> list[str]:
    """One line per public name of benchbridge.api, with the first line of its docstring."""
    from benchbridge import api

    lines = ["## `benchbridge.api`", "", inspect.getdoc(api).splitlines()[0], "", "| name | what it is |",
             "|---|---|"]
    for name in api.__all__:
        lines.append(f"| `{name}` | {_summary(getattr(api, name)).replace('|', '/')} |")
    return lines + [""]


def hook_reference() -> str:
    """Markdown reference of every hook: signature, docstring, and the protocol of what it registers."""
    lines = ["# Hook reference", "",
             "<!-- Generated from benchbridge/hookspecs.py by `benchbridge plugin hooks > docs/hooks.md`; "
             "do not edit. -->", "",
             f"Hook API version: **{hookspecs.HOOK_API_VERSION}**. A plugin module declares the version it was "
             f"written for as `BENCHBRIDGE_HOOK_API = {hookspecs.HOOK_API_VERSION}`; a plugin declaring another "
             "version is not loaded and `benchbridge plugins` says why.", "",
             "Every hook receives one argument, `register`: call it once per object the plugin provides. "
             "Objects have a `name` (or a namespace ending in `/`, such as `timm/`, that serves every name under "
             "it), an `Options` pydantic model (`extra=\"forbid\"`, with field descriptions), and the methods of "
             "their protocol.", ""]
    for name in hook_names():
        func = getattr(hookspecs, name)
        lines += [f"## `{name}{inspect.signature(func)}`", "", inspect.getdoc(func) or "(undocumented)", ""]
        for protocol in PROTOCOLS.get(name, ()):
            lines += _protocol_section(protocol)
    lines += api_reference()
    return "\n".join(lines).rstrip() + "\n"


@click.group()
def plugin() -> None:
    """Tools for plugin authors: the hook reference and a new plugin package."""


@plugin.command()
def hooks() -> None:
    """Print the hook reference (Markdown) generated from the hookspecs' docstrings."""
    click.echo(hook_reference(), nl=False)


@plugin.command("new")
@click.argument("name")
@click.option("--dir", "parent", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder to create the package in.")
@click.option("--kind", type=click.Choice(["model", "strategy"]), default="model", show_default=True,
              help="What the plugin registers: a model (two cut points) or a transfer strategy (two phases).")
def new(name: str, parent: Path, kind: str) -> None:
    """Create a plugin package NAME (pyproject, a model or strategy plugin, a passing test) to start from."""
    root = create_plugin(name, parent, kind)
    click.echo(str(root))
    click.echo(f"Next: pip install -e {root} && python -m pytest {root}", err=True)


def create_plugin(name: str, parent: Path, kind: str = "model") -> Path:
    """Write benchbridge-plugin-NAME/ under `parent` from the template of `kind`; returns its folder."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise UserError(f"plugin name '{name}' must be lower-case letters, digits and underscores, starting "
                        "with a letter.", hint="For example: benchbridge plugin new tinycnn")
    root = Path(parent) / f"benchbridge-plugin-{name.replace('_', '-')}"
    if root.exists():
        raise UserError("folder already exists.", file=str(root), hint="Pick another name or remove the folder.")
    values = {"name": name, "module": f"benchbridge_{name}", "dist": root.name,
              "api": str(hookspecs.HOOK_API_VERSION), "kind": kind}
    for rel, text in {**TEMPLATE, **(STRATEGY_TEMPLATE if kind == "strategy" else {})}.items():
        path = root / rel.format(**values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_fill(text, values))
    return root


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


TEMPLATE = {
    "pyproject.toml": '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{{dist}}"
version = "0.1.0"
description = "benchbridge plugin: {{name}}"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["benchbridge>=0.1"]

[project.entry-points.benchbridge]
{{name}} = "{{module}}"

[tool.setuptools.packages.find]
include = ["{{module}}*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
''',
    "README.md": '''# {{dist}}

A benchbridge plugin providing the {{kind}} `{{name}}`. Install: `pip install -e .`; check: `benchbridge plugins`;
test: `python -m pytest`. See benchbridge's CONTRIBUTING.md for the hooks and how to release.
''',
    "{module}/__init__.py": '''"""benchbridge plugin `{{name}}`: a small CNN with two cut points (edit to taste)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from benchbridge.api import Network, hookimpl

BENCHBRIDGE_HOOK_API = {{api}}
"""The benchbridge hook API this plugin was written for."""


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    width: int = Field(16, ge=1, description="Channels of the first convolution.")
    input_size: int = Field(32, ge=8, description="Side of the square input crop.")


class Model:
    """A two-block CNN: conv1, conv2, then a linear head."""

    name = "{{name}}"
    Options = Options
    description = "two-block CNN (template)"

    def create(self, name: str, options: Options, num_classes: int) -> Network:
        w = options.width
        blocks = [
            ("conv1", nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2))),
            ("conv2", nn.Sequential(nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
                                    nn.AdaptiveAvgPool2d(1), nn.Flatten())),
        ]
        return Network(blocks, head=nn.Linear(2 * w, num_classes))

    def cut_points(self, name: str, options: Options) -> list[str]:
        return ["conv1", "conv2"]

    def data_config(self, name: str, options: Options) -> dict[str, Any]:
        return {"input_size": options.input_size, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}


@hookimpl
def register_models(register: Any) -> None:
    register(Model())
''',
    "tests/test_{name}_plugin.py": '''"""The model builds with its cut points; the hook API matches."""

import torch

import {{module}} as plugin
from benchbridge.api import HOOK_API_VERSION


def test_hook_api_matches_benchbridge():
    assert plugin.BENCHBRIDGE_HOOK_API == HOOK_API_VERSION


def test_register_models_registers_a_working_model():
    found = []
    plugin.register_models(register=found.append)
    (model,) = found
    options = model.Options()
    net = model.create(model.name, options, num_classes=5)
    assert net.cut_points == model.cut_points(model.name, options)
    size = model.data_config(model.name, options)["input_size"]
    assert net(torch.randn(2, 3, size, size)).shape == (2, 5)
''',
}

STRATEGY_TEMPLATE = {
    "{module}/__init__.py": '''"""benchbridge plugin `{{name}}`: a transfer strategy (edit to taste).

It copies the source's first n blocks, trains the new head alone for a warm-up share of the run's iterations (every
block frozen), then fine-tunes everything, the copied blocks at a lower rate: two phases of a `StrategyPlan`. A
strategy may also return plain parameter groups (one phase), and a plan may carry a `regulariser` that keeps the
source weights."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import Network, Phase, StrategyPlan, blocks_params, copy_blocks, head_params, hookimpl

BENCHBRIDGE_HOOK_API = {{api}}
"""The benchbridge hook API this plugin was written for."""


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    warmup_fraction: float = Field(0.2, gt=0, lt=1, description="Share of the iterations that train the head alone.")
    lr_mult: float = Field(0.1, ge=0, description="Learning-rate multiplier of the copied blocks after the warm-up.")


class Strategy:
    """Copy the first n blocks; warm the head up alone, then fine-tune everything (copied blocks at lr x lr_mult)."""

    name = "{{name}}"
    Options = Options
    copies = True  # a condition using it needs a source (A or B)

    def prepare(self, net: Network, n: int, source: dict[str, torch.Tensor], options: Options) -> StrategyPlan:
        copy_blocks(net, source, n)
        warmup = Phase([{"params": head_params(net), "lr_mult": 1.0}], fraction=options.warmup_fraction,
                       frozen_prefix=len(net.blocks), name="warm-up")
        groups = [{"params": blocks_params(net, 0, n), "lr_mult": options.lr_mult},
                  {"params": blocks_params(net, n) + head_params(net), "lr_mult": 1.0}]
        tune = Phase([g for g in groups if g["params"]], frozen_prefix=0, name="fine-tune")
        return StrategyPlan([warmup, tune], schedule="continue")


@hookimpl
def register_strategies(register: Any) -> None:
    register(Strategy())
''',
    "tests/test_{name}_plugin.py": '''"""The strategy copies the source's blocks and plans two phases."""

import torch
from torch import nn

import {{module}} as plugin
from benchbridge.api import HOOK_API_VERSION, Network


def network() -> Network:
    blocks = [("conv", nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())),
              ("fc", nn.Sequential(nn.Linear(4, 4), nn.ReLU()))]
    return Network(blocks, head=nn.Linear(4, 2))


def test_hook_api_matches_benchbridge():
    assert plugin.BENCHBRIDGE_HOOK_API == HOOK_API_VERSION


def test_register_strategies_registers_a_working_strategy():
    found = []
    plugin.register_strategies(register=found.append)
    (strategy,) = found
    torch.manual_seed(0)
    source, target = network(), network()
    plan = strategy.prepare(target, 1, source.state_dict(), strategy.Options())
    assert torch.equal(target.blocks[0][0].weight, source.blocks[0][0].weight)  # block 1 copied
    warmup, tune = plan.phases
    assert [p for g in warmup.groups for p in g["params"]] == list(target.head.parameters())
    assert [g["lr_mult"] for g in tune.groups] == [0.1, 1.0]
    assert plan.bounds(100) == [(0, 20), (20, 100)]
''',
}

COMMANDS = [plugin]
