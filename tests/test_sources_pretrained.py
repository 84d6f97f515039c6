"""A source's `pretrained: TAG`: weights the model plugin finds in its local cache; mistakes are exit 2."""

import yaml
from click.testing import CliRunner

from benchbridge.cli import main


def manifest(tmp_path, **source) -> str:
    data = {"name": "p", "output_dir": str(tmp_path / "out"), "training": {"epochs": 1},
            "model": {"name": "alexnet", "options": {"input_size": 16, "width": 0.0625, "fc_width": 16}},
            "sources": [{"name": "given", **source}],
            "targets": [{"name": "t", "dataset": {"name": "synthetic", "options": {
                "classes": 3, "image_size": 16, "root": str(tmp_path / "d")}}}],
            "conditions": ["baseB", "AnB"]}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_model_plugin_without_pretrained_weights_is_named(tmp_path):
    result = CliRunner().invoke(main, ["plan", manifest(tmp_path, pretrained="alexnet.in1k")])
    assert result.exit_code == 2 and "sources.0.pretrained" in result.output and "checkpoint" in result.output


def test_pretrained_is_a_source_that_is_not_trained(tmp_path):
    result = CliRunner().invoke(main, ["plan", manifest(tmp_path, pretrained="x", classes=[0, 1])])
    assert result.exit_code == 2 and "not trained" in result.output and "classes" in result.output
    result = CliRunner().invoke(main, ["plan", manifest(tmp_path, pretrained="x", checkpoint=str(tmp_path / "w"))])
    assert result.exit_code == 2 and "not both" in result.output
