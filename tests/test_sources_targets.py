"""Transfer from any source to any target: manifests, plans, run ids, checkpoint sources, bad input."""

import hashlib
from pathlib import Path

import pytest

from benchbridge.manifest import load_manifest
from benchbridge.plan import make_plan
from benchbridge.report.tables import Cell

ROOT = Path(__file__).resolve().parents[1]

# sha256 of the comma-joined sorted run ids of every shipped manifest. yosinski2014: computed on the code before
# sources and targets existed (99d7914), unchanged since. quickstart: sources and targets left its ids as they were
# (f8e89979...); they moved once since, when evaluation.batch_size (250 in the quickstart) left the ids (plan.NOT_IN_ID,
# issue 21). The others were computed at 805c932 (two planners), before the planners became one, and are unchanged.
# The CIFAR-10 manifests plan against a stand-in index of CIFAR-10's ten classes (`cifar10_index`): planning reads the
# index, never an image. pretrained-standard-targets (issue 27) plans against stand-ins of its five targets and a
# Hugging Face cache whose resnet18.a1_in1k is a file of zeros (`standard_targets`): its ids hold that file's hash.
PINNED = {
    "chen2022-many": (57, "d6a18faae0aa083f40d0e679afef338ac74cb6c0ee18726d7770bfc8b11d862e"),
    "chen2022-small": (217, "b01e10504c466bc0d33281bda006afdf4cdc8a026ac13370667e14765c417cf4"),
    # computed when it was added (issue 26): chen2022-small with equal epochs per target; its source is chen2022-small's
    "chen2022-small-epochs": (217, "8d0817e0d5da29578c9c2234ed5b8a65517c3a0769f66c7e5e56e2bd03cdf995"),
    "cifar10-analytics": (60, "714a4dd3251b9c2cfdd6d2b1fca31dc01022a90e98547fce4495f795f2795657"),
    "cifar10-converged": (40, "ca0622317b2bf23cca978e63a727019718412e6191dc33ad11a7c7557ecdaa0a"),
    "cifar10-smallnet": (2, "1e97ed885c1dfca2c7b41ac8b06f8ea250c6bf24c9c9f8da09c9234b38c7939b"),
    "cifar10": (24, "0ad77802a5755fc56eccec6a02cdd24e08533449ba957bd84c33bc86a40ec731"),
    # computed when it was added (issue 26): the strategies study; it shares chen2022-small's seed-0 source, bases, AnB+
    "strategies-small": (237, "7d12af7631f6d01ccafd69cd9eb459e683bf10c8e6cd87b25c463b6c286acf76"),
    "quickstart": (46, "32acb5eb9fce446778884cf27743040bed494ea15471f9747e86aef05ba0e0fa"),
    "timm-resnet18-synthetic": (8, "b6e8d43570a7896c6ffa1abdee6fdf96659590bc5fb09a0d7280ba0113c7fc6e"),
    "timm-resnet50-imagenet": (49, "2b3b1443c3ae4a61ab06af7bf2cc9ee5e3b60757568f749bd79df7b4899f3907"),
    "pretrained-standard-targets": (55, "8d56da02a4fe3271ade9b1c664aa0cdeb66600db692f8c19199612ab7b13526c"),
    "yosinski2014": (143, "3ffce585eb6c4d5d2a56e531a8993836683d33fbcc5a08a92633469ed8948147"),
}


def cifar10_index(folder: Path, attributes: dict | None = None) -> None:
    """A stand-in prepared CIFAR-10 at `folder`: its index (the ten classes and their domains, 5,000 training and
    1,000 validation images each) and empty shard files; planning reads nothing more. `attributes` (class name ->
    attributes) makes it another dataset's stand-in."""
    import json

    import yaml

    if attributes is None:
        attributes = yaml.safe_load((ROOT / "manifests" / "cifar10-attributes.yaml").read_text())
    folder.mkdir(parents=True)
    splits = {}
    k = len(attributes)
    for subset, per_class in (("train", 5000), ("val", 1000)):
        (folder / f"{subset}-000000.tar").write_bytes(b"")
        splits[subset] = {"shards": [f"{subset}-000000.tar"], "num_samples": k * per_class,
                          "shard_counts": [k * per_class], "class_counts": [per_class] * k,
                          "shard_class_counts": [[per_class] * k]}
    classes = [{"index": i, "name": name, "attributes": attrs} for i, (name, attrs) in enumerate(attributes.items())]
    (folder / "dataset.json").write_text(json.dumps({"format": "benchbridge-wds/1", "name": folder.name,
                                                     "classes": classes, "splits": splits, "prepare": {}}))


STANDARD_TARGETS = {"cifar100": 100, "dtd": 47, "flowers102": 102, "pets": 37, "food101": 101}


def standard_targets(root: Path, monkeypatch) -> None:
    """Stand-ins for pretrained-standard-targets: the five targets' indexes under root/data (classes named by
    number) and a Hugging Face cache holding resnet18.a1_in1k as a safetensors file of zeros (fixed content)."""
    import huggingface_hub
    import ondisk
    import timm
    import torch

    for name, classes in STANDARD_TARGETS.items():
        cifar10_index(root / "data" / name, {f"{name}-{i}": {} for i in range(classes)})
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(root / "hub"))
    state = timm.create_model("resnet18", pretrained=False).state_dict()  # timm's own keys and shapes
    ondisk.hf_model_cache(root / "hub", "timm/resnet18.a1_in1k", {k: torch.zeros_like(v) for k, v in state.items()})


def test_every_shipped_manifest_is_pinned():
    shipped = {p.stem for p in (ROOT / "manifests").glob("*.yaml")} - {"cifar10-attributes"}  # not a manifest
    assert shipped == set(PINNED)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_existing_manifests_keep_their_run_ids(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the manifests' dataset paths are relative to the working directory
    for folder in ("cifar10", "cifar10-grey", "cifar10-16px"):
        cifar10_index(tmp_path / "data" / folder)
    if name == "pretrained-standard-targets":
        pytest.importorskip("benchbridge_timm")
        standard_targets(tmp_path, monkeypatch)
    ids = sorted(r.id for r in make_plan(load_manifest(ROOT / "manifests" / f"{name}.yaml")))
    assert (len(ids), hashlib.sha256(",".join(ids).encode()).hexdigest()) == PINNED[name]


# --- a small sources-and-targets manifest on generated data ------------------------------------------------------

import json  # noqa: E402

import torch  # noqa: E402
import yaml  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from benchbridge.results import store  # noqa: E402
from benchbridge.cli import main  # noqa: E402
from benchbridge.results import load_results  # noqa: E402

MODEL = {"name": "alexnet", "options": {"input_size": 16, "width": 0.0625, "fc_width": 16}}


def synthetic(root: Path, classes: int = 6, seed: int = 0, size: int = 16) -> dict:
    return {"name": "synthetic", "options": {"classes": classes, "image_size": size, "train_per_class": 12,
                                             "val_per_class": 4, "seed": seed, "root": str(root)}}


def pair_manifest(tmp_path: Path, **changes) -> dict:
    data = {
        "name": "pairs", "output_dir": str(tmp_path / "out"), "model": MODEL,
        "dataset": synthetic(tmp_path / "data-a"),
        "sources": [{"name": "src", "classes": [0, 1, 2]}],
        "targets": [{"name": "near", "classes": [3, 4, 5]},
                    {"name": "far", "dataset": synthetic(tmp_path / "data-b", classes=4, seed=3),
                     "images_per_class": 8}],
        "conditions": ["baseA", "baseB", "AnB", "AnB+"], "layers": [2],
        "training": {"batch_size": 6, "epochs": 1},
        "execution": {"device": "cpu", "threads": 1, "on_unhealthy": "train"},
    }
    data.update(changes)
    return data


def write(tmp_path: Path, data: dict, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def plan_of(path: Path) -> list[dict]:
    result = invoke("plan", path, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
def test_one_source_serves_two_targets_with_one_training(tmp_path):
    path = write(tmp_path, pair_manifest(tmp_path))
    runs = plan_of(path)
    sources = [r for r in runs if r["condition"] == "baseA"]
    assert len(sources) == 1  # one network for both pairs, labelled with both
    labels = {sources[0]["pair"]} | {a["pair"] for a in sources[0]["also"]}
    assert labels == {"src->near", "src->far"}
    copies = [r for r in runs if r["condition"] in ("AnB", "AnB+")]
    assert {r["pair"] for r in copies} == {"src->near", "src->far"}
    assert {r["source"] for r in copies} == {sources[0]["id"]}
    bases = {r["task"]: r for r in runs if r["condition"] == "baseB"}
    assert set(bases) == {"near", "far"} and bases["far"]["classes"]["B"] == [0, 1, 2, 3]

    result = invoke("run", path)
    assert result.exit_code in (0, 3), result.output  # 3: one epoch on 36 images may not learn; not tested here
    out = tmp_path / "out"
    results = load_results(out)
    assert all(r.record is not None for r in results)
    trained_sources = [r for r in results if r.record.condition == "baseA"]
    assert len(trained_sources) == 1 and trained_sources[0].record.init_origin == "trained"
    folder = store.run_dir(out, sources[0]["id"])
    assert (folder / store.INIT_FILE).is_file() and (folder / store.WEIGHTS_FILE).is_file()
    from benchbridge.execute.pair_setup import source_initialisation

    assert source_initialisation(out, sources[0]["id"]) == (folder / store.INIT_FILE, "trained")
    far = bases["far"]["id"]
    far_record = next(r for r in results if r.run.id == far).record
    assert load_results(out) and far_record.images_seen == 5 * 6  # 32 images: 5 full batches of 6


# --- checkpoint sources ------------------------------------------------------------------------------------------


def save_checkpoint(path: Path, seed: int = 1, **options) -> Path:
    from benchbridge.models import create_model

    torch.manual_seed(seed)
    net = create_model(MODEL["name"], 5, **{**MODEL["options"], **options})
    torch.save(net.state_dict(), path)
    return path


def checkpoint_manifest(tmp_path: Path, ckpt: Path, **source) -> dict:
    return pair_manifest(tmp_path, sources=[{"name": "given", "checkpoint": str(ckpt), **source}],
                         targets=[{"name": "near", "classes": [3, 4, 5]}],
                         conditions=["baseB", "AnB", "AnB+"], layers=[2])


def test_a_checkpoint_enters_run_ids_by_content_not_by_path(tmp_path):
    ckpt = save_checkpoint(tmp_path / "w.pt")
    ids = {(r["condition"], r["n"]): r["id"] for r in plan_of(write(tmp_path, checkpoint_manifest(tmp_path, ckpt)))}
    renamed = ckpt.rename(tmp_path / "renamed.pt")
    same = {(r["condition"], r["n"]): r["id"]
            for r in plan_of(write(tmp_path, checkpoint_manifest(tmp_path, renamed)))}
    assert same == ids
    state = torch.load(renamed, weights_only=True)
    state["blocks.0.0.weight"] += 1e-3  # a changed file: its dependants are new networks, the target's base is not
    torch.save(state, renamed)
    changed = {(r["condition"], r["n"]): r["id"]
               for r in plan_of(write(tmp_path, checkpoint_manifest(tmp_path, renamed)))}
    assert changed[("baseB", 0)] == ids[("baseB", 0)]
    assert changed[("AnB", 2)] != ids[("AnB", 2)] and changed[("AnB+", 2)] != ids[("AnB+", 2)]


@pytest.mark.slow
def test_frozen_blocks_of_a_checkpoint_source_are_the_files_bit_for_bit(tmp_path):
    ckpt = save_checkpoint(tmp_path / "w.pt")
    data = checkpoint_manifest(tmp_path, ckpt)
    data["execution"]["save_weights"] = "all"
    result = invoke("run", write(tmp_path, data))
    assert result.exit_code in (0, 3), result.output
    out, file_state = tmp_path / "out", torch.load(ckpt, weights_only=True)
    runs = {r.run.condition: r.run for r in load_results(out)}
    frozen = torch.load(store.run_dir(out, runs["AnB"].id) / store.WEIGHTS_FILE, weights_only=True)
    copied = [k for k in file_state if k.startswith(("blocks.0.", "blocks.1."))]
    assert copied and all(torch.equal(frozen[k], file_state[k]) for k in copied)
    tuned = torch.load(store.run_dir(out, runs["AnB+"].id) / store.WEIGHTS_FILE, weights_only=True)
    assert any(not torch.equal(tuned[k], file_state[k]) for k in copied)  # fine-tuned: trained from the file
    folder = store.run_dir(out, runs["AnB"].source)
    record = json.loads((folder / "source.json").read_text())
    assert record["init_origin"] == "fresh_draw" and record["sha256"]
    from benchbridge.execute.pair_setup import source_initialisation

    assert source_initialisation(out, runs["AnB"].source) == (folder / store.INIT_FILE, "fresh_draw")
    init = torch.load(folder / store.INIT_FILE, weights_only=True)
    assert set(copied) <= set(init) and not torch.equal(init["blocks.0.0.weight"], file_state["blocks.0.0.weight"])


@pytest.mark.slow
def test_a_checkpoints_initialisation_from_a_second_file(tmp_path):
    ckpt, init_file = save_checkpoint(tmp_path / "w.pt"), save_checkpoint(tmp_path / "init.pt", seed=7)
    data = checkpoint_manifest(tmp_path, ckpt, init=str(init_file))
    data["conditions"] = ["AnB"]
    result = invoke("run", write(tmp_path, data))
    assert result.exit_code in (0, 3), result.output
    run = next(r.run for r in load_results(tmp_path / "out") if r.run.condition == "AnB")
    folder = store.run_dir(tmp_path / "out", run.source)
    assert json.loads((folder / "source.json").read_text())["init_origin"] == "file"
    init, given = torch.load(folder / store.INIT_FILE, weights_only=True), torch.load(init_file, weights_only=True)
    assert all(torch.equal(init[k], v) for k, v in given.items())


# --- bad input: exit 2, one paragraph, no training ----------------------------------------------------------------


def refused(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, (word, result.output)


def test_a_missing_checkpoint_file(tmp_path):
    refused(invoke("validate", write(tmp_path, checkpoint_manifest(tmp_path, tmp_path / "nope.pt"))),
            "sources.0.checkpoint", "nope.pt", "does not exist")


def test_a_checkpoint_of_another_width(tmp_path):
    ckpt = save_checkpoint(tmp_path / "wide.pt", width=0.125)
    refused(invoke("plan", write(tmp_path, checkpoint_manifest(tmp_path, ckpt))),
            "sources.0.checkpoint", "wide.pt", "does not fit model 'alexnet'", "blocks.0.0.weight")


def test_a_checkpoint_of_another_architecture(tmp_path):
    ckpt = tmp_path / "other.pt"
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, 2)).state_dict(), ckpt)
    refused(invoke("plan", write(tmp_path, checkpoint_manifest(tmp_path, ckpt))),
            "sources.0.checkpoint", "not a state dict of model 'alexnet'")


def test_a_target_whose_images_the_source_cannot_take(tmp_path):
    data = pair_manifest(tmp_path, targets=[{"name": "big", "dataset": synthetic(tmp_path / "big", size=64)}])
    refused(invoke("run", write(tmp_path, data)), "targets.0.dataset", "64-pixel images", "16-pixel")
    assert not list((tmp_path / "out").glob("runs/*/metrics.json"))  # nothing trained


@pytest.mark.parametrize("kind", ["sources", "targets", "both"])
def test_a_name_used_twice(tmp_path, kind):
    data = pair_manifest(tmp_path)
    if kind == "sources":
        data["sources"].append({"name": "src", "classes": [3, 4]})
    elif kind == "targets":
        data["targets"][1]["name"] = "near"
    else:
        data["targets"][0]["name"] = "src"
    refused(invoke("validate", write(tmp_path, data)), "used twice", "name")


def test_a_target_with_one_class(tmp_path):
    data = pair_manifest(tmp_path, targets=[{"name": "lonely", "classes": [4]}])
    refused(invoke("plan", write(tmp_path, data)), "targets.0.classes", "'lonely' has 1 class")


def test_report_of_sources_and_targets(tmp_path):
    """Per target tables beside its base network, the gains per depth, the many-target figure; no split verdicts."""
    from benchbridge.report import write_reports

    data = pair_manifest(tmp_path, conditions=["baseB", "AnB", "AnB+"], layers=[1, 3])
    out = tmp_path / "out"
    fake_results(write(tmp_path, data), out, {("baseB", "near"): 0.5, ("baseB", "far"): 0.4,
                                              ("AnB", "near", 1): 0.55, ("AnB", "near", 3): 0.45,
                                              ("AnB+", "near", 1): 0.6, ("AnB+", "near", 3): 0.5,
                                              ("AnB", "far", 1): 0.42, ("AnB", "far", 3): 0.3,
                                              ("AnB+", "far", 1): 0.4, ("AnB+", "far", 3): 0.6})
    [rep] = write_reports([out], tmp_path / "report", formats=("markdown",))
    g = rep.grids[0]
    assert [p.label for p in g.pairs.pairs] == ["src->near", "src->far"]
    best = {(r.condition, r.n): r.best for rows in g.pairs.gains.values() for r in rows}
    assert best == {("AnB", 1): "src->near", ("AnB", 3): "src->near", ("AnB+", 1): "src->near",
                    ("AnB+", 3): "src->far"}  # near: 0.6/0.5 at n=1; far: 0.6/0.4 at n=3
    row = next(r for r in g.pairs.rows if r.pair == "src->far" and r.n == 3)
    assert row.base == pytest.approx(0.4) and row.relative["AnB+"] == pytest.approx(1.5)
    text = (tmp_path / "report" / "report.md").read_text()
    assert "source src → target far" in text and "Which target gains most at which depth" in text
    # the findings apply to any pair that has their conditions; each says what it needs where it has no verdict
    assert "Verdicts on the paper's findings" in text
    fig = next(f for f in g.figures if f.name == "many_targets")
    assert Path(fig.png).is_file()
    assert all(c.relative is None for c in g.table if c.condition == "baseA")  # never source / target
    assert all(isinstance(c, Cell) for c in g.table)  # typed until a renderer writes them


def fake_results(manifest: Path, out: Path, top1: dict) -> None:
    """Write the plan and a metrics.json per run with the given top-1 (keyed by condition, target[, n])."""
    from benchbridge.execute import prepare_output, start_job
    from benchbridge.results.record import RunRecord

    m = load_manifest(manifest)
    plan = make_plan(m)
    start_job(m, plan, prepare_output(m, out))
    for run in plan:
        key = (run.condition, run.task) if run.n == 0 else (run.condition, run.task, run.n)
        if key not in top1:
            continue
        record = RunRecord(run_id=run.id, condition=run.condition, n=run.n, pair=run.pair, seed=run.seed,
                           top1=top1[key], top5=1.0, top1_best_k=top1[key], best_k=1, iterations=1, images_seen=1,
                           wall_time_s=1.0)
        store.write_json(store.run_dir(out, run.id) / store.METRICS_FILE, record.to_json())


def test_a_source_with_its_own_training_recipe(tmp_path):
    """A source's `training` keys change its network (and what copies from it), not the targets' own networks."""
    plain = {(r["condition"], r["task"], r["n"]): r for r in plan_of(write(tmp_path, pair_manifest(tmp_path)))}
    data = pair_manifest(tmp_path)
    data["sources"][0]["training"] = {"epochs": 3, "lr": 0.02}
    longer = {(r["condition"], r["task"], r["n"]): r for r in plan_of(write(tmp_path, data))}
    assert longer[("baseA", "src", 0)]["id"] != plain[("baseA", "src", 0)]["id"]
    assert longer[("baseB", "near", 0)]["id"] == plain[("baseB", "near", 0)]["id"]
    assert longer[("AnB", "near", 2)]["id"] != plain[("AnB", "near", 2)]["id"]
    m = load_manifest(write(tmp_path, data))
    recipe = m.recipe("src")  # merged once, when the manifest was resolved; the manifest itself is not rewritten
    assert (recipe.training.epochs, recipe.training.lr, recipe.training.batch_size) == (3, 0.02, 6)
    assert (m.raw.training.epochs, m.recipe("near").training.epochs) == (1, 1)
    data["sources"][0]["training"] = {"lr": -1}
    refused(invoke("validate", write(tmp_path, data)), "sources.0.training.lr")


# --- building targets: `benchbridge data prepare variant` -------------------------------------------------------


def test_a_greyscale_lower_resolution_variant_keeps_every_sample_in_order(tmp_path):
    import numpy as np

    from benchbridge.data.source import DatasetSource
    from benchbridge.data.decoding import decode_image
    from benchbridge.data.shard_files import iter_tar_members

    src = tmp_path / "src"
    assert invoke("data", "prepare", "synthetic", src, "--classes", "3", "--image-size", "32",
                  "--train-per-class", "4", "--val-per-class", "2").exit_code == 0
    result = invoke("data", "prepare", "variant", src, tmp_path / "grey", "--grey", "--size", "16")
    assert result.exit_code == 0, result.output

    def members(root: Path, split: str) -> list[tuple[str, bytes]]:
        ds = DatasetSource.load(root)
        return [m for shard in ds.shards(split) for m in iter_tar_members(open(shard, "rb"))]

    for split in ("train", "val"):
        before, after = members(src, split), members(tmp_path / "grey", split)
        assert [n for n, _ in before] == [n for n, _ in after]  # same samples, same order, same labels
        assert [d for n, d in before if n.endswith(".cls")] == [d for n, d in after if n.endswith(".cls")]
        image = decode_image(next(d for n, d in after if n.endswith(".jpg")))
        assert image.shape == (16, 16, 3) and np.array_equal(image[..., 0], image[..., 1])  # grey, 16 px
    assert DatasetSource.load(tmp_path / "grey").classes == DatasetSource.load(src).classes
    refused(invoke("data", "prepare", "variant", src, tmp_path / "same"), "nothing to change")


# --- manifests/chen2022-small.yaml --------------------------------------------------------------------------------


def test_chen2022_small_validates_and_plans_one_source_for_every_target(tmp_path):
    """Planned on tiny generated stand-ins for its CIFAR-10 folders: one source network trained once, six targets,
    every cut point frozen and fine-tuned, each target with its base, selffers and random frozen blocks."""
    manifest = ROOT / "manifests" / "chen2022-small.yaml"
    assert invoke("validate", manifest).exit_code == 0
    data = tmp_path / "cifar"
    assert invoke("data", "prepare", "synthetic", data, "--classes", "10", "--image-size", "32",
                  "--train-per-class", "2", "--val-per-class", "1").exit_code == 0
    overrides = [f"dataset.options.path={data}"]
    for i, name in ((1, "grey"), (2, "16px")):
        flag = ["--grey"] if name == "grey" else ["--size", "16"]
        assert invoke("data", "prepare", "variant", data, tmp_path / name, *flag).exit_code == 0
        overrides.append(f"targets.{i}.dataset.options.path={tmp_path / name}")
    result = invoke("plan", manifest, *overrides, "--json")
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    targets = {r["task"] for r in runs if r["condition"] == "baseB"}
    assert len(targets) == 6 and len([r for r in runs if r["condition"] == "baseA"]) == 1
    for condition in ("AnB", "AnB+", "BnB", "BnB+", "random_frozen"):
        cells = {(r["task"], r["n"]) for r in runs if r["condition"] == condition}
        assert cells == {(t, n) for t in targets for n in range(1, 8)}, condition
    assert len(runs) == 1 + 6 * (1 + 5 * 7)


def test_splits_and_targets_together_or_a_target_without_data(tmp_path):
    data = pair_manifest(tmp_path, splits=[{"name": "random"}])
    refused(invoke("validate", write(tmp_path, data)), "key 'splits'", "not both")
    data = pair_manifest(tmp_path)
    del data["dataset"]
    refused(invoke("validate", write(tmp_path, data)), "sources.0.dataset", "names no dataset")
    data = pair_manifest(tmp_path)
    del data["sources"]
    refused(invoke("validate", write(tmp_path, data)), "'sources' is missing")


def test_the_resolved_manifest_shows_each_targets_dataset_options(tmp_path):
    result = invoke("validate", write(tmp_path, pair_manifest(tmp_path)), "--show")
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout)
    assert shown["targets"][1]["dataset"]["options"]["shard_size"] > 0  # a default the plugin filled in
    assert shown["splits"] is None and [s["name"] for s in shown["sources"]] == ["src"]


def test_large_target_images_are_taken_with_a_preset_that_resizes(tmp_path):
    """The refusal is about crop-only presets: the timm preset resizes, so the same target is taken."""
    from benchbridge.execute.pair_setup import check_inputs

    data = pair_manifest(tmp_path, targets=[{"name": "big", "dataset": synthetic(tmp_path / "big", size=64)}])
    data["data"] = {"augmentation": "timm"}
    m = load_manifest(write(tmp_path, data))
    check_inputs(m, make_plan(m))  # no UserError
    data["data"] = {"augmentation": "paper"}
    m = load_manifest(write(tmp_path, data))
    with pytest.raises(Exception, match="target 'big' has 64-pixel images"):
        check_inputs(m, make_plan(m))
