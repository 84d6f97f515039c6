"""Results as a table: one tidy row per finished run, from its record, as CSV, JSON Lines or Parquet."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any


from benchbridge.results import store
from benchbridge.errors import UserError
from benchbridge.results.record import COST, IDENTITY, OUTCOME
from benchbridge.results import load_results, saved_manifest

FORMATS = ("csv", "jsonl", "parquet")
GRID = ("grid", "run_dir", "model", "dataset")
PLAN = ("strategy", "role", "also")
COLUMNS = GRID + IDENTITY + PLAN + OUTCOME + COST + ("evaluations",)
"""Every row has these columns, in this order (a value a run did not record is empty)."""


def export_rows(run_dirs: list[str | Path]) -> list[dict[str, Any]]:
    """One row per finished run of every results directory, in plan order; unfinished runs are left out."""
    rows = []
    for run_dir in run_dirs:
        path = Path(run_dir)
        grid = _grid_columns(path)
        for res in load_results(path):
            if res.record is None:
                continue
            rec = res.record.model_dump(exclude={"curve", "schema_version"})
            also = ";".join(f"{a['pair']}:{a['condition']}" for a in res.run.also) or None
            plan = {"strategy": res.run.strategy, "role": res.run.role, "also": also}
            row = {**grid, **rec, **plan, "evaluations": len(res.record.curve)}
            rows.append({c: row.get(c) for c in COLUMNS})
    return rows


def _grid_columns(path: Path) -> dict[str, Any]:
    manifest = saved_manifest(path)
    return {"grid": manifest.get("name") or path.name, "run_dir": str(path),
            "model": (manifest.get("model") or {}).get("name"), "dataset": (manifest.get("dataset") or {}).get("name")}


def to_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def write_parquet(rows: list[dict[str, Any]], out: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("--format parquet needs pyarrow.", key="--format", hint="pip install "
                        "'benchbridge[parquet]' (or pip install pyarrow), or use csv or jsonl.") from None
    table = pa.Table.from_pylist(rows, schema=None) if rows else pa.table({c: [] for c in COLUMNS})
    store.atomic_write(out, lambda p: pq.write_table(table, p))


def export(run_dirs: list[str | Path], fmt: str = "csv", out: str | Path | None = None) -> str | None:
    """Write the rows of `run_dirs` to `out` in `fmt`; without `out`, return the text (csv and jsonl only)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format '{fmt}'. Valid choices: {', '.join(FORMATS)}.", key="--format")
    rows = export_rows(run_dirs)
    if fmt == "parquet":
        if out is None:
            raise UserError("parquet is binary: give a file to write.", key="--out",
                            hint="Add --out results.parquet.")
        write_parquet(rows, Path(out))
        return None
    text = to_csv(rows) if fmt == "csv" else to_jsonl(rows)
    if out is None:
        return text
    store.write_text(Path(out), text)
    return None
