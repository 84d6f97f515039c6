"""A device the manifest asks for that this machine lacks: exit 2 and one sentence naming the key, before any run."""

import pytest
import torch
import yaml
from click.testing import CliRunner

from benchbridge.cli import main

from grids import tiny_manifest


def manifest(tmp_path, **execution):
    path = tiny_manifest(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["execution"].update(execution)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def fake_gpus(monkeypatch, count):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def refused(path, key):
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2, result.output
    assert key in result.output and "Traceback" not in result.output
    assert not (path.parent / "out" / "runs").exists()  # nothing started
    return result.output


def test_cuda_without_a_gpu(tmp_path, monkeypatch):
    fake_gpus(monkeypatch, 0)
    out = refused(manifest(tmp_path, device="cuda"), "execution.device")
    assert "no CUDA GPU" in out


def test_more_processes_per_node_than_gpus(tmp_path, monkeypatch):
    fake_gpus(monkeypatch, 1)
    out = refused(manifest(tmp_path, device="cuda", nproc_per_node=4), "execution.nproc_per_node")
    assert "1 GPU(s)" in out


def test_a_gpu_index_that_does_not_exist(tmp_path, monkeypatch):
    fake_gpus(monkeypatch, 1)
    path = manifest(tmp_path, device="cuda", executor={"name": "local", "options": {"devices": [0, 3]}})
    out = refused(path, "execution.executor.options.devices")
    assert "GPU 3" in out


def test_gpu_indices_for_a_cpu_run(tmp_path):
    path = manifest(tmp_path, device="cpu", executor={"name": "local", "options": {"devices": [0, 1]}})
    assert "execution.workers" in refused(path, "execution.executor.options.devices")


def test_cpu_workers_on_a_gpu_run(tmp_path, monkeypatch):
    fake_gpus(monkeypatch, 1)
    refused(manifest(tmp_path, device="cuda", workers=2), "execution.workers")


def test_workers_must_be_positive_or_auto(tmp_path):
    result = CliRunner().invoke(main, ["validate", str(manifest(tmp_path, workers=0))])
    assert result.exit_code == 2 and "execution.workers" in result.output


@pytest.mark.parametrize("workers, cores, expected", [("auto", 2, 2), ("auto", 16, 16), (3, 2, 3), (1, 8, 1)])
def test_worker_count(tmp_path, monkeypatch, workers, cores, expected):
    from benchbridge.execute import devices
    from benchbridge.manifest import load_manifest

    fake_gpus(monkeypatch, 0)
    monkeypatch.setattr(devices, "cpu_count", lambda: cores)
    assert devices.worker_count(load_manifest(str(manifest(tmp_path, workers=workers)), [])) == expected
