"""Bundled plugins import only `benchbridge.api` from benchbridge: whatever they need, a third-party plugin has."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import benchbridge.api as api

ROOT = Path(__file__).resolve().parents[1]


def plugin_files() -> list[Path]:
    files = sorted(ROOT.glob("benchbridge/builtins/*.py"))
    files += sorted(ROOT.glob("plugins/*/benchbridge_*/**/*.py"))
    return files


def private_imports(source: str) -> list[str]:
    """Every `benchbridge...` import other than `benchbridge.api`, anywhere in the module (functions included)."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            bad += [a.name for a in node.names if _private(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                bad.append("." * node.level + module)  # a relative import inside benchbridge's own package
            elif module == "benchbridge":
                bad += [f"benchbridge.{a.name}" for a in node.names if a.name != "api"]
            elif _private(module):
                bad.append(module)
    return bad


def _private(module: str) -> bool:
    return (module == "benchbridge" or module.startswith("benchbridge.")) and module != "benchbridge.api"


def test_the_checker_catches_private_imports_wherever_they_are():
    code = ("import benchbridge.store\nfrom benchbridge.execute.train import Trainer\nfrom benchbridge import store\n"
            "def f():\n    from benchbridge.report import html\n"
            "from benchbridge import api\nfrom benchbridge.api import hookimpl\nimport benchbridge_timm.plugin\n")
    assert private_imports(code) == ["benchbridge.store", "benchbridge.execute.train", "benchbridge.store",
                                     "benchbridge.report"]


def test_bundled_plugins_import_only_the_public_api():
    files = plugin_files()
    assert len(files) >= 12  # the builtins and both plugin packages were found
    found = {str(p.relative_to(ROOT)): private_imports(p.read_text()) for p in files}
    assert {k: v for k, v in found.items() if v} == {}


def test_every_public_name_exists():
    for name in api.__all__:
        assert getattr(api, name) is not None, name


def test_contributing_names_only_protocols_the_api_has():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    named = set(re.findall(r"`benchbridge\.api\.(\w+)`", text)) - {"__all__"}
    assert {"ModelPlugin", "ExecutorPlugin", "ReporterPlugin", "HOOK_API_VERSION"} <= named
    assert named - set(api.__all__) == set()
    assert not re.search(r"`benchbridge\.(models|data|splits|strategies|errors|hookspecs)[.:]", text)
