"""`benchbridge export`: one tidy row per finished run, from the records, as CSV, JSON Lines or Parquet."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchbridge.results import store
from benchbridge.cli import main
from benchbridge.results.tabular import COLUMNS, export, export_rows

FIXTURE = Path(__file__).parent / "fixtures" / "tiny_grid"


def recorded(run_id: str) -> dict:
    return json.loads((store.run_dir(FIXTURE, run_id) / store.METRICS_FILE).read_text())


def test_csv_has_one_row_per_finished_run_with_the_recorded_numbers():
    result = CliRunner().invoke(main, ["export", str(FIXTURE)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    plan = json.loads((FIXTURE / store.PLAN_FILE).read_text())
    assert [r["run_id"] for r in rows] == [r["id"] for r in plan]
    kinds = {r["id"]: r.get("family", r.get("split_kind", "")) for r in plan}  # the fixture: before issue 28
    assert list(rows[0]) == list(COLUMNS)
    for row in rows:
        m = recorded(row["run_id"])
        assert float(row["top1"]) == m["top1"] and int(row["n"]) == m["n"] and row["condition"] == m["condition"]
        assert row["grid"] == "tiny"  # the manifest's name
        assert row["family"] == kinds[row["run_id"]]  # v1 records lack it: the plan's, when it has one
        assert row["health"] == ""  # not recorded by version 1: empty, not made up


def test_jsonl_rows_group_by_condition_and_n(tmp_path):
    out = tmp_path / "runs.jsonl"
    result = CliRunner().invoke(main, ["export", str(FIXTURE), "--format", "jsonl", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 56
    by_cell: dict[tuple, list[float]] = {}
    for r in rows:
        by_cell.setdefault((r["pair"], r["condition"], r["n"]), []).append(r["top1"])
    assert all(len(v) == 2 for v in by_cell.values())  # two seeds per cell
    assert {r["dataset"] for r in rows} == {"synthetic"} and {r["model"] for r in rows} == {"alexnet"}


def test_several_grids_and_unfinished_runs(tmp_path):
    other = Path(shutil.copytree(FIXTURE, tmp_path / "other"))
    victim = sorted(other.glob("runs/*/metrics.json"))[0]
    victim.unlink()
    rows = export_rows([FIXTURE, other])
    assert len(rows) == 56 + 55
    assert victim.parent.name not in {r["run_id"] for r in rows if r["run_dir"] == str(other)}


def test_parquet_reads_back_with_the_same_rows(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "runs.parquet"
    assert export([FIXTURE], "parquet", out) is None
    table = pq.read_table(out)
    assert table.column_names == list(COLUMNS)
    assert table.to_pylist() == export_rows([FIXTURE])


def test_parquet_needs_a_file_and_unknown_formats_are_refused():
    result = CliRunner().invoke(main, ["export", str(FIXTURE), "--format", "parquet"])
    assert result.exit_code == 2 and "--out" in result.output
    result = CliRunner().invoke(main, ["export", str(FIXTURE), "--format", "xlsx"])
    assert result.exit_code == 2 and "xlsx" in result.output


def test_without_pyarrow_parquet_says_which_extra_to_install(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    result = CliRunner().invoke(main, ["export", str(FIXTURE), "--format", "parquet", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "benchbridge[parquet]" in result.output
    assert not (tmp_path / "x").exists()
