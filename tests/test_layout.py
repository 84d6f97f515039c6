"""The code's shape, checked in CI: ruff (with at most 8 parameters a function) and at most 400 lines a module."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
WAIVER = "# long module:"
"""A module may pass MAX_LINES only with a comment in its first lines that starts so and says why."""


def long_modules(root: Path) -> dict[str, int]:
    """Modules of `root` over MAX_LINES lines without a waiver, with their length."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text().splitlines()
        if len(lines) > MAX_LINES and not any(line.startswith(WAIVER) for line in lines[:15]):
            found[str(path.relative_to(root))] = len(lines)
    return found


def test_no_module_of_the_core_is_over_400_lines():
    assert long_modules(ROOT / "benchbridge") == {}


def test_the_length_check_sees_a_long_module_and_its_waiver(tmp_path):
    (tmp_path / "long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tmp_path / "waived.py").write_text(f"{WAIVER} a generated table\n" + "x = 1\n" * MAX_LINES)
    (tmp_path / "short.py").write_text("x = 1\n" * MAX_LINES)
    assert long_modules(tmp_path) == {"long.py": MAX_LINES + 1}


def ruff() -> list[str]:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.fail("ruff is not installed: it is part of the dev extra (pip install -r requirements-dev.txt)")
    return [exe]


def test_ruff_is_clean():
    """pyproject's rules, PLR0913 (max-args 8) among them, over the core, the plugins, tests and benchmarks."""
    result = subprocess.run([*ruff(), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_flags_a_function_with_nine_parameters(tmp_path):
    (tmp_path / "m.py").write_text("def f(a, b, c, d, e, g, h, i, j):\n    return a\n")
    result = subprocess.run([*ruff(), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "PLR0913" in result.stdout


def shared_names(root: Path) -> dict[str, list[str]]:
    """Module file names used more than once under `root` (packages' __init__.py and __main__.py aside)."""
    seen: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        if path.name not in ("__init__.py", "__main__.py"):
            seen.setdefault(path.name, []).append(str(path.relative_to(root)))
    return {name: paths for name, paths in seen.items() if len(paths) > 1}


def test_no_two_modules_of_the_core_share_a_name():
    """A newcomer who reads `store.py` or `splits.py` knows which file is meant."""
    assert shared_names(ROOT / "benchbridge") == {}


def test_the_name_check_sees_two_modules_of_one_name(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "base.py").write_text("")
        (tmp_path / folder / "__init__.py").write_text("")
    assert shared_names(tmp_path) == {"base.py": ["a/base.py", "b/base.py"]}


# --- layers: the data flows one way, checked by import-linter (pyproject's [tool.importlinter]) -----------------


def lint_imports(cwd: Path, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.fail("import-linter is not installed: it is part of the dev extra (pip install -r requirements-dev.txt)")
    args = [exe, "--no-cache"] + ([str(config)] if config else [])
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True)


def layers() -> list[str]:
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    return next(c["layers"] for c in contracts if c["type"] == "layers")


def test_imports_follow_the_layers_and_make_no_cycle():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_the_layers_contract_refuses_an_upward_import_and_a_cycle(tmp_path):
    copy = tmp_path / "benchbridge"
    shutil.copytree(ROOT / "benchbridge", copy, ignore=shutil.ignore_patterns("__pycache__"))
    source = copy / "data" / "source.py"  # data sits below report: this import points up
    source.write_text(source.read_text() + "\nfrom benchbridge.report import build  # noqa\n")
    result = lint_imports(tmp_path, ROOT / "pyproject.toml")
    assert result.returncode == 1
    assert "benchbridge.data is not allowed to import benchbridge.report" in result.stdout
    assert "No cycles are allowed in benchbridge" in result.stdout


def test_contributing_maps_the_packages_in_the_contracts_order():
    """CONTRIBUTING's table of layers names the contract's layers, top to bottom, one row each."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    table = text[text.index("<!-- layers -->"):text.index("<!-- /layers -->")]
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| `")]
    names = [" | ".join(p.strip("` ") for p in row.split(",")) for row in rows]
    assert names == layers()


def test_only_the_ground_floor_module_commits_files():
    """One module writes files atomically (temporary file, fsync, rename); results/ and data/ both use it."""
    writers = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "benchbridge").rglob("*.py"))
               if any(call in p.read_text() for call in ("mkstemp(", "os.fsync(", "NamedTemporaryFile("))]
    assert writers == ["benchbridge/atomic.py"]
    for user in ("benchbridge/data/shard_files.py", "benchbridge/results/store.py"):
        assert "from benchbridge.atomic import" in (ROOT / user).read_text() or \
            "from benchbridge import atomic" in (ROOT / user).read_text()


PLANNER = {"plan.py", "pairs.py", "manifest.py", "sources.py"}
"""Where a manifest's way of stating its tasks (splits of one dataset, or sources and targets) may be read: the
manifest, its validation, and the planner. Everything downstream sees tasks, pairs and conditions by role."""
GRID_KIND = re.compile(r"\.(targets|sources)\b|\[\"(targets|sources)\"\]|get\(\"(targets|sources)\"\)"
                       r"|(data_from|\.task) is (not )?None|split_kind (==|!=)|family (==|!=) \"other\"|is_pair_grid"
                       r"|\"kind\"\) ==|raw\.splits")


def grid_kind_checks(root: Path) -> list[str]:
    """Lines outside the planner that ask which kind of grid this is."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).as_posix() in PLANNER:
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if GRID_KIND.search(line):
                found.append(f"{path.relative_to(root)}:{i}: {line.strip()}")
    return found


def test_no_code_outside_the_planner_asks_which_kind_of_grid_it_is(tmp_path):
    assert grid_kind_checks(ROOT / "benchbridge") == []
    planted = tmp_path / "benchbridge" / "report"
    planted.mkdir(parents=True)
    (planted / "x.py").write_text("def f(m):\n    return m.raw.targets is not None\n")
    assert grid_kind_checks(tmp_path / "benchbridge") == ["report/x.py:2: return m.raw.targets is not None"]
