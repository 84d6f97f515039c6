"""Third-party plugins from fake installed distributions: broken, duplicate, incompatible, filtered by env var."""

import importlib
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchbridge import plugins, registry
from benchbridge.cli import main
from benchbridge.errors import UserError
from benchbridge.hookspecs import HOOK_API_VERSION

GOOD = '''
from benchbridge.hookspecs import hookimpl
BENCHBRIDGE_HOOK_API = {api}

class Thing:
    """A fake {kind}."""
    name = "{component}"

@hookimpl
def register_{hook}(register):
    register(Thing())
'''


def install(site: Path, dist: str, entry: str, module: str, code: str) -> None:
    """Write `module`.py and a dist-info with an entry point in group benchbridge, as pip would."""
    (site / f"{module}.py").write_text(code)
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[benchbridge]\n{entry} = {module}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A site folder on sys.path; plugins and the registry are reloaded before and after."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(folder)])  # after the real site: installed plugins first
    before = set(sys.modules)
    importlib.invalidate_caches()
    plugins.reset_plugins()
    registry.clear_cache()
    yield folder
    for name in set(sys.modules) - before:
        if name.startswith("fake_"):
            del sys.modules[name]
    monkeypatch.undo()
    importlib.invalidate_caches()
    plugins.reset_plugins()
    registry.clear_cache()


def good(component: str, kind: str = "model", api: int = HOOK_API_VERSION) -> str:
    hook = {"model": "models", "dataset": "datasets", "split": "splits"}[kind]
    return GOOD.format(api=api, kind=kind, component=component, hook=hook)


def test_a_plugin_that_fails_to_import_is_named_with_its_package(site):
    install(site, "benchbridge-plugin-broken", "broken", "fake_broken", "import not_a_module_anywhere\n")
    plugins.load_plugins()
    (problem,) = plugins.load_problems
    assert "plugin 'broken' (package benchbridge-plugin-broken) failed to import" in problem
    assert "ModuleNotFoundError" in problem
    assert registry.get("model", "alexnet").plugin == "alexnet"  # unrelated plugins still work


def test_benchbridge_plugins_and_unrelated_commands_survive_a_broken_plugin(site):
    install(site, "benchbridge-plugin-broken", "broken", "fake_broken", "raise RuntimeError('boom')\n")
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "alexnet" in result.stdout and "RuntimeError: boom" in result.stderr
    assert "benchbridge-plugin-broken" in result.stderr
    plugins.reset_plugins()
    registry.clear_cache()
    manifest = Path(__file__).resolve().parents[1] / "manifests" / "quickstart.yaml"
    result = CliRunner().invoke(main, ["plan", str(manifest), "--json"])
    assert result.exit_code == 0, result.output
    assert "failed to import" in result.stderr


def test_a_duplicate_plugin_name_is_reported_and_the_first_one_kept(site):
    install(site, "benchbridge-plugin-dup", "alexnet", "fake_dup", good("dup_model"))
    plugins.load_plugins()
    dup = [p for p in plugins.load_problems if "two plugins are named 'alexnet'" in p]
    assert len(dup) == 1
    assert "the one from benchbridge-plugin-dup was not loaded" in dup[0]
    assert registry.get("model", "alexnet").plugin == "alexnet"


def test_a_duplicate_component_name_names_both_plugins_and_packages(site):
    install(site, "benchbridge-plugin-other", "other", "fake_other", good("alexnet"))
    assert registry.get("model", "alexnet").plugin == "alexnet"
    (problem,) = [p for p in plugins.load_problems if "registered by both" in p]
    assert "plugin 'alexnet' (package benchbridge)" in problem
    assert "plugin 'other' (package benchbridge-plugin-other)" in problem


def test_an_incompatible_hook_api_version_is_reported_and_not_loaded(site):
    install(site, "benchbridge-plugin-future", "future", "fake_future", good("future_model", api=HOOK_API_VERSION + 1))
    plugins.load_plugins()
    (problem,) = plugins.load_problems
    assert f"written for hook API {HOOK_API_VERSION + 1}" in problem and "benchbridge-plugin-future" in problem
    assert "future" not in plugins.plugin_packages
    with pytest.raises(UserError, match="unknown model 'future_model'"):
        registry.get("model", "future_model")


def test_a_hook_that_raises_is_reported_not_raised(site):
    code = "from benchbridge.hookspecs import hookimpl\n\n@hookimpl\ndef register_models(register):\n    1 / 0\n"
    install(site, "benchbridge-plugin-zero", "zero", "fake_zero", code)
    assert "alexnet" in registry.entries("model")
    (problem,) = plugins.load_problems
    assert "plugin 'zero' (package benchbridge-plugin-zero) failed in register_models" in problem


def test_env_var_limits_which_plugins_load(site, monkeypatch):
    install(site, "benchbridge-plugin-broken", "broken", "fake_broken", "raise RuntimeError('never imported')\n")
    install(site, "benchbridge-plugin-extra", "extra", "fake_extra", good("extra_model"))
    monkeypatch.setenv(plugins.LOAD_ENV, "alexnet, extra")
    plugins.load_plugins()
    assert sorted(plugins.plugin_packages) == ["alexnet", "extra"]
    assert plugins.load_problems == []  # the broken plugin was not even imported
    assert registry.names("model") == ["alexnet", "extra_model"]
    assert "fake_broken" not in sys.modules


def test_empty_env_var_loads_no_plugin(site, monkeypatch):
    monkeypatch.setenv(plugins.LOAD_ENV, "")
    plugins.load_plugins()
    assert plugins.plugin_packages == {}
    with pytest.raises(UserError, match="unknown model 'alexnet'. Valid choices: none"):
        registry.get("model", "alexnet")


def test_a_missing_namespace_plugin_names_the_package_to_install(site, monkeypatch):
    monkeypatch.setenv(plugins.LOAD_ENV, "alexnet,synthetic,splits,strategies,local_executor")
    manifest = Path(__file__).resolve().parents[1] / "manifests" / "timm-resnet18-synthetic.yaml"
    result = CliRunner().invoke(main, ["run", str(manifest)])
    assert result.exit_code == 2
    assert "needs a plugin that is not installed" in result.stderr
    assert "pip install benchbridge-plugin-timm" in result.stderr
    assert "Traceback" not in result.output


def test_a_source_tree_never_pip_installed_loads_the_bundled_plugins_from_pyproject(site, monkeypatch):
    installed = {ep.name: ep.value for ep in plugins._entry_points() if ep.dist and ep.dist.name == "benchbridge"}
    assert installed and plugins.source_tree_plugins() == {}  # installed: the entry points list them
    monkeypatch.setattr(plugins, "_entry_points", lambda: [])  # as `python -m benchbridge` in a bare checkout
    assert plugins.source_tree_plugins() == installed
    plugins.load_plugins()
    assert plugins.plugin_packages == dict.fromkeys(installed, "benchbridge") and plugins.load_problems == []
    assert "alexnet" in registry.names("model") and "imagefolder" in registry.names("preparation")
