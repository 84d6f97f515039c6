"""Training-loop options on CPU: accumulation keeps the step's meaning, bf16/channels-last run, cost is recorded."""

import pytest
import torch
import yaml

from benchbridge.results import store
from benchbridge.execute import Job, execute_plan
from benchbridge.execute.optimize import make_optimizer
from benchbridge.execute.train import RunSetup, Trainer, build_network
from benchbridge.manifest import load_manifest
from benchbridge.plan import make_plan

from grids import tiny_manifest

pytestmark = pytest.mark.slow


def bases(tmp, out, **training):
    path = tiny_manifest(tmp, out)
    data = yaml.safe_load(path.read_text())
    data["splits"] = [{"name": "random", "options": {"seed": 1}}]
    data.update(conditions=[], layers=[1])
    data["model"]["options"]["dropout"] = 0.0
    data["training"].update(**training)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    m = load_manifest(path)
    execute_plan(m, make_plan(m))
    out_dir = tmp / out
    found = [store.read_json(p / store.METRICS_FILE) for p in (out_dir / store.RUNS_DIR).iterdir()]
    return {m["condition"]: m for m in found}  # run ids hash the training options: match by condition


def test_accumulation_gives_the_same_optimizer_steps(tmp_path):
    path = tiny_manifest(tmp_path)
    m = load_manifest(path)
    job = Job(m, tmp_path / "out", make_plan(m))
    setup = RunSetup(m, job.dataset(), job.output_dir, torch.device("cpu"))
    trainer = Trainer(job.plan[0], setup)
    params = []
    for accumulation in (1, 4):  # 4 micro-batches of 4 images: the same 16-image optimizer steps
        trainer.t = trainer.t.model_copy(update={"accumulation": accumulation})
        net, groups = build_network(trainer.run, setup)  # same seed: same initial weights
        opt = make_optimizer(groups, trainer.t)
        g = torch.Generator().manual_seed(0)
        for it in range(3):
            x, y = torch.randn(16, 3, 16, 16, generator=g), torch.randint(0, 3, (16,), generator=g)
            trainer._step(net.eval(), opt, x, y, it)  # eval: no dropout, so both see the same function
        params.append([p.detach().clone() for p in net.parameters()])
    assert any(not torch.equal(a, b) for a, b in zip(params[0], build_network(trainer.run, setup)[0].parameters()))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(*params))


def test_bf16_channels_last_run_and_cost_is_recorded(tmp_path):
    got = bases(tmp_path, "bf16", precision="bf16", channels_last=True)
    for m in got.values():
        assert m["precision"] == "bf16" and 0 <= m["top1"] <= 1
        assert m["device_hours"] == pytest.approx(m["wall_time_s"] / 3600)
        assert m["peak_memory_bytes"] > 10 * 2**20 and m["devices"] == 1 and m["device_name"]
        assert m["images_per_s"] > 0
        assert all(p["val_loss"] > 0 for p in m["curve"])


def test_execution_only_options_keep_run_ids(tmp_path):
    path = tiny_manifest(tmp_path)
    ids = [r.id for r in make_plan(load_manifest(path))]
    same = ["training.checkpoint_every=10", "training.compile=true", "training.cudnn_benchmark=true",
            "training.channels_last=true", "training.precision=fp32", "training.accumulation=1"]
    assert [r.id for r in make_plan(load_manifest(path, same))] == ids  # finished results are still found
    for other in ("training.precision=bf16", "training.accumulation=2"):
        assert not set(ids) & {r.id for r in make_plan(load_manifest(path, [other]))}
