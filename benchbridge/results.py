"""Read a results directory: the plan saved with it, and the record (metrics.json) of every finished run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


def load_results(output_dir: str | Path) -> list[Result]:
    out = Path(output_dir)
    plan_file = out / store.PLAN_FILE
    if not plan_file.is_file():
        raise UserError("no plan.json here: this is not a benchbridge results directory.", file=str(out),
                        hint="Pass the output_dir of a manifest you ran with `benchbridge run`.")
    runs = [Run.from_dict(r) for r in store.read_json(plan_file)]
    return [Result(r, _record(out, r)) for r in runs]


def _record(out: Path, run: Run) -> RunRecord | None:
    path = store.run_dir(out, run.id) / store.METRICS_FILE
    if not path.is_file():
        return None
    return read_record(path, defaults={"split_kind": run.split_kind, "source": run.source})


def run_states(output_dir: str | Path) -> dict[str, list[Run]]:
    """Runs grouped as done, running (started, lock held), interrupted (started, no lock) and missing."""
    out = Path(output_dir)
    locked = (out / store.LOCK_FILE).exists()
    states: dict[str, list[Run]] = {"done": [], "running": [], "interrupted": [], "missing": []}
    for res in load_results(out):
        started = (store.run_dir(out, res.run.id) / store.RUN_FILE).is_file()
        if res.record is not None:
            states["done"].append(res.run)
        elif started:
            states["running" if locked else "interrupted"].append(res.run)
        else:
            states["missing"].append(res.run)
    return states
