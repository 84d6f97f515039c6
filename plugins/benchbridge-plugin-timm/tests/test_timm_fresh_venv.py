"""Done-when check: a fresh venv with the core only, + this plugin, run the timm manifest, uninstall, clear error.

The venv has no benchbridge: it links every package of the environment running the tests (a venv, conda or the
system Python: torch, timm, ... are 5 GB, so they are linked, not reinstalled) except benchbridge and its plugins,
then pip-installs copies of the core and of this plugin from source with --no-deps --no-index (no network).
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PLUGIN = REPO / "plugins" / "benchbridge-plugin-timm"
SKIP = ("benchbridge", "__editable__.benchbridge", "__editable___benchbridge")


def running_sites() -> list[Path]:
    """The site-packages folders of the environment running the tests (not of the interpreter it was made from)."""
    paths = sysconfig.get_paths()
    return [Path(p) for p in dict.fromkeys((paths["purelib"], paths["platlib"])) if Path(p).is_dir()]


def make_venv(root: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(root), "platbase": str(root)}))
    for source in running_sites():
        for entry in source.iterdir():
            if not entry.name.lower().startswith(SKIP) and not (site / entry.name).exists():
                (site / entry.name).symlink_to(entry)
    return root / "bin"


def copy_source(src: Path, dst: Path) -> Path:
    """A copy of a package's source: its pyproject, README and import packages only (no builds, data, tests)."""
    dst.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(src / name, dst / name)
    for package in src.iterdir():
        if (package / "__init__.py").is_file():
            shutil.copytree(package, dst / package.name, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def sh(bin_dir: Path, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BENCHBRIDGE_LOAD_PLUGINS")}
    env.update(HF_HUB_OFFLINE="1", PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
    run = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert run.returncode == 0, run.stdout + run.stderr
    return run


# networks this small stay near chance: health flags them (exit 3) and their dependants are trained anyway
TINY = ["execution.on_unhealthy=train", "training.epochs=1", "layers=[1]", "conditions=[AnB]",
        "training.batch_size=16",
        "dataset.options.classes=4", "dataset.options.train_per_class=16", "dataset.options.val_per_class=4"]


@pytest.mark.slow
def test_install_list_run_uninstall_in_a_fresh_venv(tmp_path):
    if not running_sites():
        pytest.skip("the running environment has no site-packages folder to link")
    bin_dir = make_venv(tmp_path / "venv")
    py = str(bin_dir / "python")
    pip = [py, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    sh(bin_dir, *pip, str(copy_source(REPO, tmp_path / "core")), cwd=tmp_path)
    found = sh(bin_dir, py, "-c", "import benchbridge; print(benchbridge.__file__)", cwd=tmp_path).stdout
    assert str(tmp_path / "venv") in found  # the venv's own copy, not the developer's checkout

    before = json.loads(sh(bin_dir, "benchbridge", "plugins", "--json", cwd=tmp_path).stdout)
    assert "timm" not in {p["name"] for p in before["plugins"]}

    sh(bin_dir, *pip, str(copy_source(PLUGIN, tmp_path / "plugin")), cwd=tmp_path)
    after = json.loads(sh(bin_dir, "benchbridge", "plugins", "--json", cwd=tmp_path).stdout)
    timm = next(p for p in after["plugins"] if p["name"] == "timm")
    assert timm["package"] == "benchbridge-plugin-timm" and not after["problems"]

    manifest = str(REPO / "manifests" / "timm-resnet18-synthetic.yaml")
    ran = sh(bin_dir, "benchbridge", "run", manifest, f"output_dir={tmp_path / 'out'}", *TINY, "--json",
             cwd=tmp_path, check=False)
    assert ran.returncode in (0, 3), ran.stdout + ran.stderr  # 3: a network at chance, said on stderr
    rows = json.loads(ran.stdout)
    assert {r["condition"] for r in rows} == {"baseA", "baseB", "AnB"}
    assert all(0 <= r["metrics"]["top1"] <= 1 for r in rows)

    sh(bin_dir, py, "-m", "pip", "uninstall", "-q", "-y", "benchbridge-plugin-timm", cwd=tmp_path)
    failed = sh(bin_dir, "benchbridge", "run", manifest, f"output_dir={tmp_path / 'out2'}", *TINY, cwd=tmp_path,
                check=False)
    assert failed.returncode == 2
    assert "model 'timm/resnet18' needs a plugin that is not installed" in failed.stderr
    assert "pip install benchbridge-plugin-timm" in failed.stderr and "Traceback" not in failed.stderr
