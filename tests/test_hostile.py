"""Issue 21, tried as a hostile user would: networks that did not learn, unreadable result files, dead and raced
locks, errors in worker processes, deep and huge YAML, run ids, and the smaller things. Each test fails without
its fix."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from benchbridge import store
from benchbridge.cli import main
from benchbridge.execute import health

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "manifests" / "quickstart.yaml"


# --- 2. a network that did not learn can pass as ok -------------------------------------------------------------


def test_a_training_loss_stuck_above_ln_c_is_no_learning_even_when_top1_passes_on_a_draw():
    # the man-made -> natural baseA at lr 1e-9: top-1 0.138 on 500 images (p = 0.003 against 1/10), and a
    # training loss of 4.0-4.4, above ln 10 = 2.30
    losses = [4.0 + 0.4 * (i % 5) / 4 for i in range(79)]
    assert health.chance_p_value(0.138, 500, 10) < health.ALPHA
    why = health.no_learning(0.138, 500, 10, losses)
    assert why is not None and "above ln 10" in why
    # a healthy network's loss: below ln C at the end (even when it started far above it)
    assert health.no_learning(0.5, 500, 10, [4.0] * 20 + [1.9] * 59) is None


@pytest.mark.slow
def test_the_quickstart_at_lr_1e_9_is_no_learning_for_every_base_network_and_seed(tmp_path):
    """The issue's reproduction (lr 1e-9, one epoch, abort after 30%) on every base network of 3 seeds."""
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "run", str(QUICKSTART), "training.lr=1e-9", "training.epochs=1", "training.abort_if_no_learning=0.3",
        "seeds=[0,1,2]", "layers=[1]", "conditions=[baseA,baseB]", "splits.1.conditions=[baseA,baseB]",
        f"output_dir={out}", f"dataset.options.root={tmp_path / 'data'}", "--json"])
    assert result.exit_code == 3, result.output
    plan = store.read_json(out / store.PLAN_FILE)
    assert sorted({(r["condition"], r["split"], r["seed"]) for r in plan}) == sorted(
        (c, s, seed) for c in ("baseA", "baseB") for s in ("random-s0", "manmade->natural") for seed in (0, 1, 2))
    for r in plan:
        m = store.read_json(store.run_dir(out, r["id"]) / store.METRICS_FILE)
        assert m["health"] == "no_learning", (r["condition"], r["split"], r["seed"], m["top1"], m["health_reason"])
        assert m["stop_reason"] == "no_learning"
