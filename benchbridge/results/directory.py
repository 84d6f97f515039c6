"""Read a results directory: the plan saved with it, and the record (metrics.json) of every finished run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchbridge.results import store
from benchbridge.errors import UserError
from benchbridge.plan import Run
from benchbridge.results.record import DAMAGED_SUFFIX, RETRAIN_HINT, BrokenRecord, RunRecord, read_record


@dataclass(frozen=True)
class Result:
    run: Run
    record: RunRecord | None  # None while not finished, or when its record cannot be read (then `broken` says why)
    broken: str | None = None  # why its metrics.json cannot be read, naming the run, its folder and what to do

    @property
    def labels(self) -> list[tuple[str, str]]:
        """Every (split, condition) this network stands for."""
        return self.run.labels

    @property
    def families(self) -> dict[str, str]:
        """Pair label -> the family its split plugin declared (random, dissimilar, other), for each of its labels."""
        return {self.run.pair: self.run.family,
                **{a["pair"]: a.get("family", "other") for a in self.run.also if a["pair"] != self.run.pair}}

    @property
    def health(self) -> str | None:
        """ok, diverged or no_learning once finished (results older than health checks count as ok)."""
        return None if self.record is None else (self.record.health or "ok")


def load_results(output_dir: str | Path) -> list[Result]:
    out = Path(output_dir)
    plan_file = out / store.PLAN_FILE
    if not plan_file.is_file():
        raise UserError("no plan.json here: this is not a benchbridge results directory.", file=str(out),
                        hint="Pass the output_dir of a manifest you ran with `benchbridge run`.")
    try:
        runs = [Run.from_dict(r) for r in store.read_json(plan_file)]
    except (TypeError, KeyError, AttributeError):
        raise UserError("plan.json does not hold a benchbridge plan.", file=str(plan_file),
                        hint="Run `benchbridge run` with the grid's manifest: it writes the plan again.") from None
    return [_result(out, r) for r in runs]


def _result(out: Path, run: Run) -> Result:
    """A run and its record; an unreadable record leaves the run without one, and says why and what to do."""
    try:
        return Result(run, record_of(out, run))
    except BrokenRecord as exc:
        folder = store.run_dir(out, run.id)
        todo = RETRAIN_HINT if exc.damaged else (
            exc.hint or f"Delete {store.METRICS_FILE} (or the folder) and `benchbridge run` trains this run again.")
        return Result(run, None, f"run {run.id} ({run.condition} n={run.n} {run.pair} seed {run.seed}): "
                                 f"{folder / store.METRICS_FILE} cannot be read: {exc.detail} It is left out here. "
                                 f"{todo}")


def broken(results: list[Result]) -> list[str]:
    """Why each run whose record cannot be read is left out (one sentence per run, for the terminal)."""
    return [r.broken for r in results if r.broken]


def blocked_runs(output_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Run id -> its blocked.json (which unhealthy run it copies from), for runs without results only."""
    out = Path(output_dir)
    found = {}
    for folder in sorted((out / store.RUNS_DIR).glob(f"*/{store.BLOCKED_FILE}")):
        if not store.is_finished(out, folder.parent.name):
            try:
                record = store.read_json(folder)
            except UserError:
                continue  # unreadable: the next `run` finds out again whether the run is blocked
            if isinstance(record, dict):
                found[folder.parent.name] = record
    return found


def saved_manifest(output_dir: str | Path) -> dict[str, Any]:
    """The resolved manifest saved with the results ({} when absent or unreadable: the report names the grid after
    its folder)."""
    path = Path(output_dir) / store.MANIFEST_FILE
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def unhealthy(results: list[Result]) -> list[Result]:
    """Finished runs whose health is not ok (diverged, no_learning)."""
    return [r for r in results if r.health not in (None, "ok")]


def set_aside_damaged(out: Path, plan: list[Run]) -> list[tuple[Run, str]]:
    """Rename every damaged metrics.json (not a JSON object, or not a valid record of a schema version this
    benchbridge reads) to metrics.json.damaged (its run is then not finished, and trains again); a record of a
    newer schema version stays, for a newer benchbridge."""
    found = []
    for run in plan:
        path = store.run_dir(out, run.id) / store.METRICS_FILE
        if not path.is_file():
            continue
        try:
            read_record(path, defaults={"family": run.family, "source": run.source})  # as record_of reads
        except BrokenRecord as exc:
            if exc.damaged:
                os.replace(path, path.with_name(path.name + DAMAGED_SUFFIX))
                found.append((run, exc.detail))
    return found


def record_by_id(out: Path, run_id: str) -> RunRecord | None:
    """The record of the finished run `run_id` of the results directory `out` (None while it is not finished)."""
    path = store.run_dir(out, run_id) / store.METRICS_FILE
    return read_record(path) if path.is_file() else None


def record_of(out: Path, run: Run) -> RunRecord | None:
    """The record of a finished run (None while it is not finished)."""
    path = store.run_dir(out, run.id) / store.METRICS_FILE
    if not path.is_file():
        return None
    return read_record(path, defaults={"family": run.family, "source": run.source})


def run_states(output_dir: str | Path) -> dict[str, list[Run]]:
    """Runs grouped as done, blocked (not trained: a source is unhealthy), running (started, and a live process
    holds the output directory's lock), interrupted (started, no live holder: killed or crashed), missing and
    broken (a record that cannot be read); `unhealthy` lists the done runs whose health is not ok."""
    out = Path(output_dir)
    locked = store.lock_holder(out) is not None
    blocked = blocked_runs(out)
    states: dict[str, list[Run]] = {"done": [], "blocked": [], "running": [], "interrupted": [], "missing": [],
                                    "broken": [], "unhealthy": []}
    for res in load_results(out):
        started = (store.run_dir(out, res.run.id) / store.RUN_FILE).is_file()
        if res.broken:
            states["broken"].append(res.run)
        elif res.record is not None:
            states["done"].append(res.run)
            if res.health != "ok":
                states["unhealthy"].append(res.run)
        elif res.run.id in blocked:
            states["blocked"].append(res.run)
        elif started:
            states["running" if locked else "interrupted"].append(res.run)
        else:
            states["missing"].append(res.run)
    return states
