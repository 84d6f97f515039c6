"""Bundled plugins import only `benchbridge.api` from benchbridge: whatever they need, a third-party plugin has."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import benchbridge.api as api

ROOT = Path(__file__).resolve().parents[1]


def plugin_files() -> list[Path]:
    files = sorted(ROOT.glob("benchbridge/builtins/**/*.py"))
    files += sorted(ROOT.glob("plugins/*/benchbridge_*/**/*.py"))
    return files


def own_package(path: Path) -> str | None:
    """A bundled plugin that is a package (benchbridge/builtins/NAME/) may import its own modules."""
    parts = path.relative_to(ROOT).parts
    if parts[:2] == ("benchbridge", "builtins") and len(parts) > 3:
        return f"benchbridge.builtins.{parts[2]}"
    return None


def private_imports(source: str, own: str | None = None) -> list[str]:
    """Every `benchbridge...` import other than `benchbridge.api` (and the plugin's `own` package), anywhere in the
    module (functions included)."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            bad += [a.name for a in node.names if _private(a.name, own)]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                bad.append("." * node.level + module)  # a relative import inside benchbridge's own package
            elif module == "benchbridge":
                bad += [f"benchbridge.{a.name}" for a in node.names if a.name != "api"]
            elif _private(module, own):
                bad.append(module)
    return bad


def _private(module: str, own: str | None = None) -> bool:
    if own and (module == own or module.startswith(own + ".")):
        return False
    return (module == "benchbridge" or module.startswith("benchbridge.")) and module != "benchbridge.api"


def test_the_checker_catches_private_imports_wherever_they_are():
    code = ("import benchbridge.results.store\nfrom benchbridge.execute.train import Trainer\n"
            "from benchbridge import results\ndef f():\n    from benchbridge.report import html\n"
            "from benchbridge import api\nfrom benchbridge.api import hookimpl\nimport benchbridge_timm.plugin\n")
    assert private_imports(code) == ["benchbridge.results.store", "benchbridge.execute.train", "benchbridge.results",
                                     "benchbridge.report"]


def test_bundled_plugins_import_only_the_public_api():
    files = plugin_files()
    assert len(files) >= 12  # the builtins and both plugin packages were found
    found = {str(p.relative_to(ROOT)): private_imports(p.read_text(), own_package(p)) for p in files}
    assert {k: v for k, v in found.items() if v} == {}


def test_a_plugin_package_may_import_its_own_modules_only():
    code = ("from benchbridge.builtins.local_executor.pool import cpu_pool\n"
            "from benchbridge.builtins.reporters import x\nfrom benchbridge.execute.job import Job\n")
    assert private_imports(code, "benchbridge.builtins.local_executor") == ["benchbridge.builtins.reporters",
                                                                            "benchbridge.execute.job"]


def test_importing_the_api_loads_no_heavy_module():
    """`import benchbridge.api` imports each public name on first use: torch, the loader and pydantic wait."""
    code = ("import sys, benchbridge.api\n"
            "print(sorted(m for m in sys.modules if m.startswith('benchbridge')), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['benchbridge', 'benchbridge.api', 'benchbridge.errors', 'benchbridge.hookspecs'] False"


def test_every_public_name_exists():
    for name in api.__all__:
        assert getattr(api, name) is not None, name


def test_contributing_names_only_protocols_the_api_has():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    named = set(re.findall(r"`benchbridge\.api\.(\w+)`", text)) - {"__all__"}
    assert {"ModelPlugin", "ExecutorPlugin", "ReporterPlugin", "HOOK_API_VERSION"} <= named
    assert named - set(api.__all__) == set()
    assert not re.search(r"`benchbridge\.(models|data|splits|strategies|errors|hookspecs)[.:]", text)


RESULTS_PACKAGE = "benchbridge/results/"
"""The results package: the only modules that know where a run's record lies on disk and how it is parsed."""


def metrics_file_uses(source: str) -> list[int]:
    """Lines that name metrics.json in code: the METRICS_FILE constant, or a string that is the file's name or path
    (prose that mentions it, such as a docstring or a field's description, does not count)."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    lines = []
    for node in ast.walk(tree):
        named = (isinstance(node, ast.Name) and node.id == "METRICS_FILE") or (
            isinstance(node, ast.Attribute) and node.attr == "METRICS_FILE")
        literal = (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                   and node.value.endswith("metrics.json") and not any(c.isspace() for c in node.value))
        if named or literal:
            lines.append(node.lineno)
    return sorted(lines)


def test_the_metrics_checker_sees_the_constant_and_the_name_but_not_docstrings():
    code = ('"""Reads metrics.json."""\nimport json\nfrom benchbridge import store\n'
            'def f(d):\n    """metrics.json of a run."""\n    return json.loads((d / store.METRICS_FILE).read_text())\n'
            'def g(d):\n    return (d / "runs" / "x" / "metrics.json").read_text()\n'
            'H = "counted in metrics.json"\n')
    assert metrics_file_uses(code) == [6, 8]


def test_only_the_results_modules_read_or_write_metrics_json():
    files = sorted(ROOT.glob("benchbridge/**/*.py")) + sorted(ROOT.glob("benchmarks/*.py")) + plugin_files()
    found = {str(p.relative_to(ROOT)): metrics_file_uses(p.read_text()) for p in files}
    assert {k: v for k, v in found.items() if v and not k.startswith(RESULTS_PACKAGE)} == {}
