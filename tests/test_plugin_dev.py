"""Plugin author tools: the generated hook reference, every hook documented and exercised, `plugin new`."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchbridge import hookspecs, plugins, registry
from benchbridge.cli import main
from benchbridge.cli.plugin_dev import create_plugin, hook_names, hook_reference
from benchbridge.errors import UserError
from benchbridge.hookspecs import hookimpl

ROOT = Path(__file__).resolve().parents[1]


def test_committed_hook_reference_is_up_to_date():
    committed = (ROOT / "docs" / "hooks.md").read_text()
    assert committed == hook_reference(), "regenerate: benchbridge plugin hooks > docs/hooks.md"


def test_every_hookspec_is_documented_and_known_to_the_registry():
    assert set(hook_names()) == set(registry.KINDS.values())
    for name in hook_names():
        doc = getattr(hookspecs, name).__doc__ or ""
        assert doc.strip(), f"hookspec {name} has no docstring"
        assert f"## `{name}(" in hook_reference()


def _make_all_hooks_plugin():
    class Thing:
        def __init__(self, name):
            self.name = name

    namespace = {}
    for hook in hook_names():
        kind = next(k for k, h in registry.KINDS.items() if h == hook)

        def impl(register, _kind=kind):
            register(Thing(f"every_hook_{_kind}"))

        namespace[hook] = hookimpl(impl)
    return type("AllHooksPlugin", (), {k: staticmethod(v) for k, v in namespace.items()})


@pytest.fixture
def clean_plugins():
    plugins.reset_plugins()
    registry.clear_cache()
    yield
    plugins.reset_plugins()
    registry.clear_cache()


def test_every_hook_is_called_and_feeds_the_registry(clean_plugins):
    plugins.load_plugins()
    plugins.pm.register(_make_all_hooks_plugin(), name="every_hook")
    for kind, hook in registry.KINDS.items():
        entry = registry.get(kind, f"every_hook_{kind}")
        assert entry.plugin == "every_hook", hook


def test_every_hook_has_a_real_implementation():
    code = [p.read_text() for p in ROOT.glob("benchbridge/builtins/*.py")]
    code += [p.read_text() for p in ROOT.glob("plugins/*/benchbridge_*/**/*.py")]
    text = "\n".join(code)
    implemented = {n for n in hook_names() if re.search(rf"^def {n}\(", text, re.M)}
    assert set(hook_names()) - implemented == set()


def test_plugin_new_makes_a_package_whose_test_passes(tmp_path):
    result = CliRunner().invoke(main, ["plugin", "new", "tinycnn", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "benchbridge-plugin-tinycnn"
    assert Path(result.stdout.strip()) == root
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points.benchbridge]\ntinycnn = "benchbridge_tinycnn"' in pyproject
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                         cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_plugin_new_refuses_bad_names_and_existing_folders(tmp_path):
    with pytest.raises(UserError, match="lower-case"):
        create_plugin("Bad-Name", tmp_path)
    create_plugin("ok", tmp_path)
    result = CliRunner().invoke(main, ["plugin", "new", "ok", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "already exists" in result.stderr


def test_plugin_hooks_command_prints_the_reference():
    result = CliRunner().invoke(main, ["plugin", "hooks"])
    assert result.exit_code == 0 and result.stdout == hook_reference()


@pytest.mark.slow
def test_plugin_new_makes_a_strategy_plugin_that_installs_lists_and_passes_its_tests(tmp_path):
    pytest.importorskip("setuptools")  # pip builds the package offline, without build isolation
    result = CliRunner().invoke(main, ["plugin", "new", "warmup", "--kind", "strategy", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "benchbridge-plugin-warmup"
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
           "--target", str(site), str(root)]
    installed = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}  # the installed copy: its dist-info holds the entry point
    env.pop("BENCHBRIDGE_LOAD_PLUGINS", None)
    listed = subprocess.run([sys.executable, "-m", "benchbridge", "plugins", "--json"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    [found] = [p for p in data["plugins"] if p["name"] == "warmup"]
    assert found["package"] == "benchbridge-plugin-warmup" and not data["problems"]
    assert "strategy" in json.dumps(found)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert tests.returncode == 0 and "2 passed" in tests.stdout, tests.stdout + tests.stderr
