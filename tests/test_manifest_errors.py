"""A user mistake exits with status 2 and one paragraph naming the file and the dotted key; no traceback."""

import copy

import pytest
from click.testing import CliRunner

from benchbridge.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def mutate(data, path, value):
    data = copy.deepcopy(data)
    node = data
    for part in path[:-1]:
        node = node[part]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


DELETE = object()

CASES = [
    # (what is wrong, path to change, new value, words the message must contain)
    ("unknown top-level key", ("trainning",), {"lr": 1}, ["trainning", "unknown key"]),
    ("unknown nested key", ("training", "lr_rate"), 0.1, ["training.lr_rate", "unknown key"]),
    ("wrong type", ("training", "lr"), "fast", ["training.lr", "number"]),
    ("missing required key", ("dataset",), DELETE, ["dataset", "required"]),
    ("unknown model plugin", ("model", "name"), "resnet", ["model.name", "unknown model 'resnet'", "alexnet"]),
    ("unknown plugin option", ("model", "options", "depth"), 3, ["model.options.depth", "unknown key"]),
    ("bad plugin option type", ("model", "options", "width"), "wide", ["model.options.width"]),
    ("both epochs and iterations", ("training", "epochs"), 3, ["exactly one of 'epochs' or 'iterations'"]),
    ("layers beyond the cut points", ("layers",), [1, 9], ["layers", "1..7"]),
    ("unknown condition", ("conditions",), ["AnB", "CnB"], ["conditions.1", "CnB", "AnB+"]),
    ("split with classes the dataset lacks", ("splits",),
     [{"name": "explicit", "options": {"A": [1, 2], "B": [3, 5000]}}], ["splits.0.options.B", "0..999"]),
    ("unknown split plugin", ("splits",), [{"name": "halves"}], ["splits.0.name", "random"]),
    ("strategy option on a plain strategy", ("conditions",),
     [{"name": "X", "source": "A", "strategy": "frozen", "options": {"lr_mult": 2}}],
     ["conditions.0.options.lr_mult", "unknown key"]),
    ("uninstalled plugin namespace", ("model", "name"), "timm/resnet50",
     ["model.name", "pip install benchbridge-plugin-timm"]),
]


@pytest.fixture
def plugins_without_timm(monkeypatch):
    """Load every plugin but the timm one (installed in development set-ups), as if it were not installed."""
    from benchbridge import plugins, registry

    names = {ep.name for ep in plugins._entry_points()} | set(plugins.source_tree_plugins())
    monkeypatch.setenv(plugins.LOAD_ENV, ",".join(sorted(names - {"timm"})))
    plugins.reset_plugins()
    registry.clear_cache()
    yield
    monkeypatch.undo()
    plugins.reset_plugins()
    registry.clear_cache()


@pytest.mark.parametrize("what,path,value,words", CASES, ids=[c[0] for c in CASES])
def test_bad_manifest_exits_2_naming_the_key(paper_manifest, write_manifest, what, path, value, words, request):
    if what == "uninstalled plugin namespace":
        request.getfixturevalue("plugins_without_timm")
    file = write_manifest(mutate(paper_manifest, path, value))
    result = invoke("plan", file)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert str(file) in result.output
    for word in words:
        assert word in result.output, (word, result.output)


def test_missing_file(tmp_path):
    result = invoke("validate", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "nope.yaml" in result.output and "not found" in result.output


def test_bad_yaml(tmp_path):
    file = tmp_path / "bad.yaml"
    file.write_text("name: x\ntraining:\n  lr: [1, 2\n")
    result = invoke("validate", file)
    assert result.exit_code == 2
    assert "bad.yaml" in result.output and "not valid YAML" in result.output and "line" in result.output


def test_bad_override(paper_manifest, write_manifest):
    file = write_manifest(paper_manifest)
    result = invoke("plan", file, "training.epochs")
    assert result.exit_code == 2 and "key=value" in result.output
    result = invoke("plan", file, "splits.12.options.seed=1")
    assert result.exit_code == 2 and "splits.12" in result.output


def test_unwritable_output_dir(paper_manifest, write_manifest, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    file = write_manifest(mutate(paper_manifest, ("output_dir",), str(blocker / "results")))
    result = invoke("run", file)
    assert result.exit_code == 2, result.output
    assert "output_dir" in result.output and "cannot write" in result.output


def test_missing_data_is_a_clear_error(paper_manifest, write_manifest, tmp_path):
    data = mutate(paper_manifest, ("output_dir",), str(tmp_path / "out"))
    data = mutate(data, ("dataset", "options", "path"), str(tmp_path / "no-imagenet"))
    result = invoke("run", write_manifest(data))
    assert result.exit_code == 2, result.output
    assert "no-imagenet" in result.output and "data prepare" in result.output


def test_brackets_in_an_error_message_are_printed_as_written(paper_manifest, write_manifest):
    result = invoke("plan", write_manifest(mutate(paper_manifest, ("model", "name"), "alexnet[slurm]")))
    assert result.exit_code == 2
    assert "unknown model 'alexnet[slurm]'" in result.output  # not eaten as rich markup
