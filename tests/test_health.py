"""Run health: a diverging run stops and blocks its dependants (exit 3, the report says so); a network that cannot
learn is flagged no_learning and `abort_if_no_learning` stops it early; every JSON file written is strict."""

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict
from torch import nn

from benchbridge import plugins, registry
from benchbridge.results import store
from benchbridge.cli import main
from benchbridge.execute import health
from benchbridge.hookspecs import hookimpl
from benchbridge.models.network import Network
from grids import tiny_manifest


def test_binomial_tail_is_exact():
    assert health.binomial_tail(2, 3, 0.5) == pytest.approx(0.5)  # (3 + 1) / 8
    assert health.binomial_tail(3, 3, 0.5) == pytest.approx(1 / 8)
    assert health.binomial_tail(0, 10, 0.3) == 1.0 and health.binomial_tail(11, 10, 0.3) == 0.0
    by_hand = sum(math.comb(50, i) * 0.1 ** i * 0.9 ** (50 - i) for i in range(10, 51))
    assert health.binomial_tail(10, 50, 0.1) == pytest.approx(by_hand, rel=1e-9)


def test_no_learning_rules():
    # 15 of 24 right among 3 classes: p = 0.0066 < 1%: learned; 12 of 24: p = 0.068: not significant
    assert health.no_learning(15 / 24, 24, 3, []) is None
    assert "not significantly above chance" in health.no_learning(12 / 24, 24, 3, [])
    flat = [math.log(10) * 1.01] * 20
    # top-1 0.125 on 1000 images: p = 0.005, significant at 1% but not far above chance: the pinned loss decides
    assert "within 2% of ln 10" in health.no_learning(0.125, 1000, 10, [2.0] * 100 + flat)
    assert health.no_learning(0.9, 1000, 10, [2.0] * 100 + flat) is None  # far above chance: it learned (issue 25)
    assert health.no_learning(0.9, 1000, 10, [2.0] * 100 + [math.log(10) * 0.9] * 20) is None
    assert health.judge("loss nan", 1.0, 10, 2, []) == (health.DIVERGED, "loss nan")


def grid_manifest(tmp: Path, out: str, **training: Any) -> Path:
    path = tiny_manifest(tmp, out)
    data = yaml.safe_load(path.read_text())
    data["splits"] = [{"name": "random", "options": {"seed": 1}}]
    data.update(conditions=["AnB", "random_frozen"], layers=[1])
    data["execution"]["on_unhealthy"] = "block"
    data["training"].update(training)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def diverged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("diverged")
    result = CliRunner().invoke(main, ["run", str(grid_manifest(tmp, "out", lr=1e12)), "--json"])
    return tmp / "out", result


def test_a_nan_loss_stops_the_run_at_once_and_is_written_as_strict_json(diverged):
    out, result = diverged
    assert result.exit_code == 3, result.output
    plan = store.read_json(out / store.PLAN_FILE)
    bases = [r for r in plan if r["condition"].startswith("base")]
    for r in bases:
        path = store.run_dir(out, r["id"]) / store.METRICS_FILE
        text = path.read_text()
        m = json.loads(text, parse_constant=lambda c, p=path: pytest.fail(f"{p} holds {c}"))
        assert m["health"] == "diverged" and m["stop_reason"] == "diverged"
        assert "training loss became" in m["health_reason"]
        assert m["stopped_at"] < m["planned_iterations"]  # stopped at once, not at the end of its budget
        assert any(p["train_loss"] is None and p["train_loss_nonfinite"] in ("nan", "inf") for p in m["curve"])


def test_dependants_of_a_diverged_run_are_blocked_and_independent_runs_go_on(diverged):
    out, result = diverged
    plan = store.read_json(out / store.PLAN_FILE)
    anb = next(r for r in plan if r["condition"] == "AnB")
    assert not store.is_finished(out, anb["id"])  # never trained
    blocked = store.read_json(store.run_dir(out, anb["id"]) / store.BLOCKED_FILE)
    assert blocked["blocked_by"] == anb["source"] and blocked["health"] == "diverged"
    independent = [r for r in plan if not r["depends_on"]]
    assert len(independent) == 3 and all(store.is_finished(out, r["id"]) for r in independent)
    assert "unhealthy" in result.output and "blocked" in result.output and anb["id"] in result.output
    states = json.loads(CliRunner().invoke(main, ["status", str(out), "--json"]).stdout)
    assert states["blocked"] == [anb["id"]] and len(states["unhealthy"]) == 3


def test_the_report_shows_health_and_findings_on_unhealthy_runs_are_not_measured(diverged, tmp_path):
    out, _ = diverged
    result = CliRunner().invoke(main, ["report", str(out), "--out", str(tmp_path / "rep"), "--json"])
    assert result.exit_code == 0, result.output
    g = json.loads(result.stdout)["grids"][0]
    health_of = {r["id"]: r["health"] for r in g["health"]}
    plan = store.read_json(out / store.PLAN_FILE)
    anb = next(r for r in plan if r["condition"] == "AnB")
    assert health_of[anb["id"]] == "blocked" and health_of[anb["source"]] == "diverged"
    findings = {f["number"]: f for f in g["findings"]}
    for number in (1, 6):  # both read AnB, which was blocked by the diverged baseA
        assert findings[number]["verdict"] == "not measured"
        assert "unhealthy" in findings[number]["rule"] and anb["source"] in " ".join(findings[number]["evidence"])
    assert all(r["unhealthy"] for r in g["table"] if r["condition"] == "baseB")
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Run health" in md and "DIVERGED" in md and "⚠" in md


@pytest.mark.slow
@pytest.mark.parametrize("executor, workers", [
    ({"name": "local"}, 2),  # CPU worker processes
    ({"name": "submitit", "options": {"cluster": "local", "gpus_per_run": 0, "cpus_per_task": 1, "time": 10}}, 1)])
def test_every_executor_blocks_dependants_instead_of_failing(tmp_path, executor, workers):
    path = grid_manifest(tmp_path, "out", lr=1e12)
    data = yaml.safe_load(path.read_text())
    data["execution"]["executor"] = executor
    data["execution"]["workers"] = workers
    data["conditions"] = ["AnB"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 3, result.output  # not 2 ('runs failed'): nothing failed, the dependant was blocked
    plan = store.read_json(tmp_path / "out" / store.PLAN_FILE)
    anb = next(r for r in plan if r["condition"] == "AnB")
    assert (store.run_dir(tmp_path / "out", anb["id"]) / store.BLOCKED_FILE).is_file()
    assert not store.is_finished(tmp_path / "out", anb["id"])


# --- a network that cannot learn --------------------------------------------------------------------------------


class ConstantOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BiasOnly(nn.Module):
    """The same output for every image: a learned bias, whatever the input."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(x.shape[0], -1) + 0 * x.mean()


class ConstantModel:
    """Test-only model whose output does not depend on the image."""

    name = "constant_test_model"
    Options = ConstantOptions

    def create(self, name: str, options: ConstantOptions, num_classes: int) -> Network:
        return Network([("pool", nn.AdaptiveAvgPool2d(1))], BiasOnly(num_classes))

    def cut_points(self, name: str, options: ConstantOptions) -> list[str]:
        return ["pool"]

    def data_config(self, name: str, options: ConstantOptions) -> dict[str, Any]:
        return {"input_size": 16, "mean": (0.5,) * 3, "std": (0.25,) * 3, "augmentation": "paper"}


class ConstantPlugin:
    @staticmethod
    @hookimpl
    def register_models(register: Any) -> None:
        register(ConstantModel())


@pytest.fixture
def constant_model():
    plugins.load_plugins()
    plugins.pm.register(ConstantPlugin, name="constant_test_model")
    registry.clear_cache()
    yield
    plugins.pm.unregister(name="constant_test_model")
    registry.clear_cache()


def constant_manifest(tmp: Path, out: str, **training: Any) -> Path:
    path = grid_manifest(tmp, out, epochs=4, batch_size=8, **training)
    data = yaml.safe_load(path.read_text())
    data["model"] = {"name": "constant_test_model"}
    data.update(conditions=["BnB", "random_frozen"], layers=[1])
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_network_with_constant_output_is_no_learning_and_abort_stops_it_early(constant_model, tmp_path):
    full = CliRunner().invoke(main, ["run", str(constant_manifest(tmp_path, "full"))])
    assert full.exit_code == 3, full.output
    aborted = CliRunner().invoke(main, ["run", str(constant_manifest(tmp_path, "abort", abort_if_no_learning=0.25))])
    assert aborted.exit_code == 3, aborted.output
    for out in ("full", "abort"):
        plan = store.read_json(tmp_path / out / store.PLAN_FILE)
        base = next(r for r in plan if r["condition"] == "baseB")
        m = store.read_json(store.run_dir(tmp_path / out, base["id"]) / store.METRICS_FILE)
        assert m["health"] == "no_learning", m["health_reason"]
        bnb = next(r for r in plan if r["condition"] == "BnB")
        assert (store.run_dir(tmp_path / out, bnb["id"]) / store.BLOCKED_FILE).is_file()
        # frozen blocks at chance are what random_frozen measures: ok, with the reason noted; never aborted
        rf = next(r for r in plan if r["condition"] == "random_frozen")
        mf = store.read_json(store.run_dir(tmp_path / out, rf["id"]) / store.METRICS_FILE)
        assert mf["health"] == "ok" and "measurement, not a failure" in mf["health_reason"]
        assert mf["stop_reason"] == "budget"
        if out == "full":
            assert m["stop_reason"] == "budget" and m["stopped_at"] == m["planned_iterations"]
        else:
            assert m["stop_reason"] == "no_learning" and "abort_if_no_learning" in m["health_reason"]
            assert m["stopped_at"] == math.ceil(0.25 * m["planned_iterations"]) < m["planned_iterations"]
