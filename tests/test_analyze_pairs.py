"""`benchbridge analyze` on a grid of sources and targets takes the same path as on the paper's splits: every analysis
(probes, CKA, LogME, H-score, LEEP, NCE, T) per (source, target) and seed, the questions and --proxy. Chen et al.'s T
per copied block and its mean, with theta_r the source's own initialisation (trained, a checkpoint's init file, or a
fresh draw), and the report shows it."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchbridge.results import store
from benchbridge.execute import prepare_output, prepare_sources, start_job
from benchbridge.manifest import load_manifest
from benchbridge.models import create_model
from benchbridge.plan import make_plan
from test_analyze_t_metric import _record, _set
from test_sources_targets import MODEL, invoke, pair_manifest, write

N_ALL = 7  # alexnet's cut points: AnB+ at n = 7 copied every block
ORIGINS = {"src": "trained", "given": "file", "drawn": "fresh_draw"}


def _template(classes: int = 5) -> dict[str, torch.Tensor]:
    return create_model(MODEL["name"], classes, **MODEL["options"]).state_dict()


def _hand_t(init: dict, source: dict, tuned: dict, block: int) -> float:
    """mean|theta_r - theta_f| / mean|theta_p - theta_f| over the conv/linear weights of one block (per tensor, then
    averaged over the block's tensors), written out independently of benchbridge's code."""
    keys = [k for k, v in init.items() if k.startswith(f"blocks.{block}.") and k.endswith(".weight") and v.ndim >= 2]
    assert keys

    def d(a: dict, b: dict) -> float:
        return float(np.mean([np.mean(np.abs(a[k].double().numpy() - b[k].double().numpy())) for k in keys]))

    return d(init, tuned) / d(source, tuned)


def hand_grid(tmp_path: Path, layers: list[int]) -> Path:
    """A planned grid of three sources (trained, checkpoint with an init file, checkpoint without) and two targets,
    nothing trained: every network's weights and record written by hand. Sources' conv/linear weights are 3, the
    fine-tuned networks' 2.5, the given init file's 1; biases 7, 0 and 100 (they must not count)."""
    template = _template()
    ckpt, init_file = tmp_path / "ckpt.pt", tmp_path / "ckpt-init.pt"
    torch.save(_set(template, 3.0, 7.0), ckpt)
    torch.save(_set(template, 1.0, 100.0), init_file)
    data = pair_manifest(tmp_path, conditions=["AnB+"], layers=layers)
    data["sources"] += [{"name": "given", "checkpoint": str(ckpt), "init": str(init_file)},
                        {"name": "drawn", "checkpoint": str(ckpt)}]
    m = load_manifest(write(tmp_path, data))
    plan = make_plan(m)
    out = prepare_output(m, tmp_path / "out")
    start_job(m, plan, out)
    prepare_sources(m, plan, out)  # the checkpoint sources' weights.pt, init.pt and source.json, as `run` writes them
    for run in plan:
        folder = store.run_dir(out, run.id)
        folder.mkdir(parents=True, exist_ok=True)
        record = _record(run)
        template = _template(len(run.train_classes))  # each network's head has its own task's classes
        if run.condition == "baseA":  # the trained source: its own init.pt, as the trainer keeps it
            torch.save(_set(template, 3.0, 7.0), folder / store.WEIGHTS_FILE)
            torch.save(_set(template, 1.0, 100.0), folder / store.INIT_FILE)
            record = record.model_copy(update={"init_origin": "trained"})
        else:  # AnB+: fine-tuned; its own init.pt is NOT theta_r
            torch.save(_set(template, 2.5, 0.0), folder / store.WEIGHTS_FILE)
            torch.save(_set(template, 0.0, 9.0), folder / store.INIT_FILE)
        store.write_json(folder / store.METRICS_FILE, record.to_json())
    return out


def analyze_json(out: Path) -> dict:
    result = invoke("analyze", out, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_t_per_block_for_every_source_and_target_with_each_sources_own_init(tmp_path):
    out = hand_grid(tmp_path, layers=[2, N_ALL])
    data = analyze_json(out)
    assert "kind" not in data and "not_available" not in data  # one path for every grid
    pairs = {f"{s}->{t}" for s in ORIGINS for t in ("near", "far")}
    assert {g["split"] for g in data["groups"]} == pairs and not data["skipped"]
    for g in data["groups"]:  # every analysis measured every pair, a checkpoint source's too
        assert {"probe_A", "probe_B", "cka_AB", "logme_A", "h_score_A", "leep_A", "nce_A",
                "t_metric"} <= set(g["series"])
        assert g["source"] in ORIGINS and g["target"] in ("near", "far")
        if g["target"] == "far":  # its task trains on the first 8 images of each of its 4 classes: so do the scores
            assert g["train_images"] == 4 * 8
    assert {"depth_order", "across_groups", "best_finetune_n", "top_layer_fall", "source_choice",
            "target_gain"} == set(data["questions"])
    rows = {r["pair"]: r for r in data["t_metric"]["rows"]}
    assert set(rows) == {f"{s}->{t}" for s in ORIGINS for t in ("near", "far")}
    for label, row in rows.items():
        source = row["source"]
        assert row["init_origin"] == ORIGINS[source], label
        assert row["n"] == N_ALL and list(row["t_per_block"]) == [str(i) for i in range(1, N_ALL + 1)]
        assert row["reason"] is None
        source_dir = store.run_dir(out, row["source_run_id"])
        if source == "drawn":  # no init file: theta_r is the draw written beside the checkpoint's weights
            assert json.loads((source_dir / "source.json").read_text())["init_origin"] == "fresh_draw"
            states = [torch.load(p, weights_only=True) for p in (
                source_dir / store.INIT_FILE, source_dir / store.WEIGHTS_FILE,
                store.run_dir(out, row["run_id"]) / store.WEIGHTS_FILE)]
            expected = [_hand_t(*states, block=i) for i in range(N_ALL)]
            assert not metrics_near(expected, 3.0)
        else:  # |1 - 2.5| / |3 - 2.5| = 3 in every block; the AnB+ run's own init (0) would give 5, biases more
            expected = [3.0] * N_ALL
        assert [row["t_per_block"][str(i + 1)] for i in range(N_ALL)] == pytest.approx(expected, rel=1e-6)
        assert row["t_mean"] == pytest.approx(sum(expected) / N_ALL, rel=1e-6)
    assert (out / "analysis" / "analysis.json").is_file()


def metrics_near(values: list[float], target: float) -> bool:
    return all(abs(v - target) < 1e-6 for v in values)


def test_the_report_shows_t_per_block_and_the_mean_and_plots_it(tmp_path):
    from benchbridge.report import write_reports

    out = hand_grid(tmp_path, layers=[2, N_ALL])
    [rep] = write_reports([out], tmp_path / "report", formats=("markdown",))
    pairs = rep.grids[0].pairs
    assert pairs.transferability is None  # not analyzed yet: the report says how to get T
    text = (tmp_path / "report" / "report.md").read_text()
    assert "Chen et al.'s T per block: not computed for this grid yet" in text and "benchbridge analyze" in text
    analyze_json(out)
    [rep] = write_reports([out], tmp_path / "report", formats=("markdown",))
    g = rep.grids[0]
    assert g.pairs.transferability["src->near"] == pytest.approx({b: 3.0 for b in range(1, N_ALL + 1)})
    assert set(g.pairs.transferability) == {f"{s}->{t}" for s in ORIGINS for t in ("near", "far")}
    text = (tmp_path / "report" / "report.md").read_text()
    section = text[text.index("Chen et al.'s transferability T per block"):]
    line = next(x for x in section.splitlines() if "| given" in x and "| near" in x)
    assert "| file |" in line and line.count("3.000") == N_ALL + 1  # 7 blocks and the mean
    assert "fresh_draw" in section and "trained" in section
    fig = next(f for f in g.figures if f.name == "many_targets")
    assert Path(fig.png).is_file() and "T per block" in fig.caption
    assert g.analysis is not None and "source_choice" in g.analysis.questions  # the analytics section applies
    assert "Per-layer analytics" in text


def test_without_n_all_in_layers_t_covers_the_copied_blocks_and_proxy_works(tmp_path):
    """T is per copied block (Chen et al.): with layers [2] the fine-tuned network at n = 2 gives T of blocks 1-2;
    --proxy scores a smaller-budget grid on every question, as on split grids."""
    out = hand_grid(tmp_path, layers=[2])
    data = analyze_json(out)
    for row in data["t_metric"]["rows"]:
        assert row["n"] == 2 and list(row["t_per_block"]) == ["1", "2"] and row["reason"] is None
    proxy = invoke("analyze", out, "--proxy", out)
    assert proxy.exit_code == 0, proxy.output
    data = json.loads((out / "analysis" / "analysis.json").read_text())
    names = {r["measurement"] for r in data["questions"]["depth_order"]["measurements"]}
    assert "proxy grid" in names and data["proxy"]["runs"] > 0


@pytest.mark.slow
def test_t_on_a_trained_tiny_grid_uses_the_sources_init_pt(tmp_path):
    """Trained end to end on generated data: each target's T per block is computed from the source's own init.pt
    (init_origin trained), and equals the hand computation over conv/linear weights from the saved files."""
    data = pair_manifest(tmp_path, conditions=["AnB+"], layers=[N_ALL])
    result = invoke("run", write(tmp_path, data))
    assert result.exit_code in (0, 3), result.output
    out = tmp_path / "out"
    rows = analyze_json(out)["t_metric"]["rows"]
    assert [r["target"] for r in rows] == ["near", "far"]
    for row in rows:
        assert row["init_origin"] == "trained" and row["t_per_block"] is not None
        source_dir, tuned_dir = store.run_dir(out, row["source_run_id"]), store.run_dir(out, row["run_id"])
        init, source, tuned = (torch.load(p, weights_only=True) for p in (
            source_dir / store.INIT_FILE, source_dir / store.WEIGHTS_FILE, tuned_dir / store.WEIGHTS_FILE))
        expected = [_hand_t(init, source, tuned, i) for i in range(N_ALL)]
        assert [row["t_per_block"][str(i + 1)] for i in range(N_ALL)] == pytest.approx(expected, rel=1e-6)
        own = torch.load(tuned_dir / store.INIT_FILE, weights_only=True)  # the fine-tuned run's own draw
        assert _hand_t(own, source, tuned, 0) != pytest.approx(expected[0], rel=1e-3)
