"""The superclass dataset (describe without images, open prepares shards) and split, through the registry too."""

from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("benchbridge_superclass")

from benchbridge import registry  # noqa: E402
from benchbridge.api import UserError  # noqa: E402
from benchbridge_superclass import SuperclassFolder, SuperclassSplit  # noqa: E402

SUPERS = {"cat": "animal", "dog": "animal", "bus": "vehicle", "car": "vehicle", "oak": "plant", "fern": "plant"}


@pytest.fixture
def folder(tmp_path) -> tuple[Path, Path]:
    for split, count in (("train", 3), ("val", 1)):
        for i, name in enumerate(SUPERS):
            d = tmp_path / "src" / split / name
            d.mkdir(parents=True)
            for j in range(count):
                Image.new("RGB", (12, 10), (i * 40, j * 60, 90)).save(d / f"{j}.png")
    csv = tmp_path / "supers.csv"
    csv.write_text("class,superclass\n" + "".join(f"{c},{s}\n" for c, s in SUPERS.items()))
    return tmp_path / "src", csv


def options(folder, tmp_path, **extra):
    return SuperclassFolder.Options(path=folder[0], superclasses=folder[1], root=tmp_path / "shards", **extra)


def test_describe_reads_no_image_and_open_prepares_shards(folder, tmp_path):
    ds = SuperclassFolder()
    infos = ds.describe(options(folder, tmp_path))
    assert [c.name for c in infos] == sorted(SUPERS)
    assert all(c.attributes == {"superclass": SUPERS[c.name]} for c in infos)
    assert not (tmp_path / "shards").exists()
    source = ds.open(options(folder, tmp_path, size=8))
    assert source.num_samples("train") == 18 and source.num_samples("val") == 6
    assert [c.attributes for c in source.classes] == [c.attributes for c in infos]
    stamp = (tmp_path / "shards" / "dataset.json").stat().st_mtime_ns
    ds.open(options(folder, tmp_path, size=8))
    assert (tmp_path / "shards" / "dataset.json").stat().st_mtime_ns == stamp  # prepared once


def test_yaml_superclass_file_and_mismatches(folder, tmp_path):
    yml = tmp_path / "supers.yaml"
    yml.write_text("".join(f"{c}: {s}\n" for c, s in SUPERS.items()))
    o = SuperclassFolder.Options(path=folder[0], superclasses=yml)
    assert len(SuperclassFolder().describe(o)) == 6
    yml.write_text("cat: animal\nzebra: animal\n")
    with pytest.raises(UserError, match="unknown: \\['zebra'\\]"):
        SuperclassFolder().describe(o)


def test_split_keeps_superclasses_whole(folder, tmp_path):
    classes = SuperclassFolder().describe(options(folder, tmp_path))
    split = SuperclassSplit()
    s = split.split(split.Options(target=["vehicle"]), classes)
    assert {classes[i].name for i in s.B} == {"bus", "car"} and len(s.A) == 4
    seeded = split.split(split.Options(seed=3), classes)
    supers_a = {classes[i].attributes["superclass"] for i in seeded.A}
    supers_b = {classes[i].attributes["superclass"] for i in seeded.B}
    assert supers_a and supers_b and not supers_a & supers_b
    assert split.split(split.Options(seed=3), classes) == seeded  # deterministic
    assert s.kind == seeded.kind == "dissimilar"  # whole superclasses apart, unless the manifest says otherwise
    assert split.split(split.Options(seed=3, kind="random"), classes).kind == "random"
    with pytest.raises(UserError, match="unknown superclasses"):
        split.split(split.Options(target=["fish"]), classes)
    with pytest.raises(UserError, match="do not all carry"):
        split.split(split.Options(attribute="colour"), classes)


def test_registered_through_the_entry_point():
    assert registry.get("dataset", "superclass_folder").plugin == "superclass"
    assert registry.get("split", "superclass").plugin == "superclass"


def test_superclass_split_plans_a_manifest(folder, tmp_path, write_manifest=None):
    from benchbridge.manifest import load_manifest
    from benchbridge.plan import make_plan
    import yaml

    data = {"name": "sc", "output_dir": str(tmp_path / "out"),
            "dataset": {"name": "superclass_folder",
                        "options": {"path": str(folder[0]), "superclasses": str(folder[1])}},
            "model": {"name": "alexnet", "options": {"input_size": 16, "width": 0.125, "fc_width": 16}},
            "splits": [{"name": "superclass", "options": {"target": ["plant"]}}],
            "conditions": ["AnB"], "layers": [1], "training": {"epochs": 1}}
    path = tmp_path / "sc.yaml"
    path.write_text(yaml.safe_dump(data))
    plan = make_plan(load_manifest(path))
    anb = next(r for r in plan if r.condition == "AnB")
    assert anb.n == 1
