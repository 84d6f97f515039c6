"""Read a results directory: the plan saved with it, and the record (metrics.json) of every finished run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchbridge import store
from benchbridge.errors import UserError
from benchbridge.plan import Run
from benchbridge.record import RunRecord, read_record


@dataclass(frozen=True)
class Result:
    run: Run
    record: RunRecord | None  # None while not finished

    @property
    def labels(self) -> list[tuple[str, str]]:
        """Every (split, condition) this network stands for."""
        return [(self.run.split, self.run.condition)] + [(a["split"], a["condition"]) for a in self.run.also]

    @property
    def split_kinds(self) -> dict[str, str]:
        """Split label -> the kind its plugin declared (random, dissimilar, other), for every label of the run."""
        return {self.run.split: self.run.split_kind,
                **{a["split"]: a.get("split_kind", "other") for a in self.run.also if a["split"] != self.run.split}}

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
    runs = [Run.from_dict(r) for r in store.read_json(plan_file)]
    return [Result(r, _record(out, r)) for r in runs]


def blocked_runs(output_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Run id -> its blocked.json (which unhealthy run it copies from), for runs without results only."""
    out = Path(output_dir)
    found = {}
    for folder in sorted((out / store.RUNS_DIR).glob(f"*/{store.BLOCKED_FILE}")):
        if not store.is_finished(out, folder.parent.name):
            found[folder.parent.name] = store.read_json(folder)
    return found


def unhealthy(results: list[Result]) -> list[Result]:
    """Finished runs whose health is not ok (diverged, no_learning)."""
    return [r for r in results if r.health not in (None, "ok")]


def _record(out: Path, run: Run) -> RunRecord | None:
    path = store.run_dir(out, run.id) / store.METRICS_FILE
    if not path.is_file():
        return None
    return read_record(path, defaults={"split_kind": run.split_kind, "source": run.source})


def run_states(output_dir: str | Path) -> dict[str, list[Run]]:
    """Runs grouped as done, blocked (not trained: a source is unhealthy), running (started, and a live process
    holds the output directory's lock), interrupted (started, no live holder: killed or crashed) and missing;
    `unhealthy` lists the done runs whose health is not ok."""
    out = Path(output_dir)
    locked = store.lock_holder(out) is not None
    blocked = blocked_runs(out)
    states: dict[str, list[Run]] = {"done": [], "blocked": [], "running": [], "interrupted": [], "missing": [],
                                    "unhealthy": []}
    for res in load_results(out):
        started = (store.run_dir(out, res.run.id) / store.RUN_FILE).is_file()
        if res.record is not None:
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
