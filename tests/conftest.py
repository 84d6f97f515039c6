from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"


@pytest.fixture
def paper_manifest() -> dict:
    """The yosinski2014 manifest as a dict (plans without data: ImageNet's classes are known)."""
    return yaml.safe_load((MANIFESTS / "yosinski2014.yaml").read_text())


@pytest.fixture
def write_manifest(tmp_path):
    def write(data: dict, name: str = "m.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path
    return write


@pytest.fixture
def register_plugin():
    """Load the installed plugins afresh and register a test plugin module beside them; unload all afterwards."""
    from benchbridge import plugins, registry

    def register(module, name: str) -> None:
        plugins.reset_plugins()
        registry.clear_cache()
        plugins.load_plugins()
        plugins.pm.register(module, name=name)

    yield register
    plugins.reset_plugins()
    registry.clear_cache()
