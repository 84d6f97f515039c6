"""A Job is a plan bound to an output directory: what executors receive. It pickles, for remote executors."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import torch
import yaml

from benchbridge import store
from benchbridge.data.base import DatasetSource
from benchbridge.errors import UserError, within
from benchbridge.execute import distributed
from benchbridge.execute.context import RunContext
from benchbridge.execute.train import RunSetup, initial_network, train_run
from benchbridge.manifest import ResolvedManifest, resolve
from benchbridge.plan import Run, plan_to_json
from benchbridge.record import DAMAGED_SUFFIX, BrokenRecord, read_record
from benchbridge.store import OutputLock

__all__ = ["Events", "Job", "NoEvents", "OutputLock", "finetuned_runs", "prepare_output", "start_job"]


class Events(Protocol):
    """What an executor reports while it works (the CLI shows it with rich)."""

    def started(self, run: Run) -> None: ...
    def progress(self, run: Run, done: int, total: int) -> None: ...
    def finished(self, run: Run, metrics: dict[str, Any]) -> None: ...
    def blocked(self, run: Run, record: dict[str, Any]) -> None: ...


class NoEvents:
    def started(self, run: Run) -> None: ...
    def progress(self, run: Run, done: int, total: int) -> None: ...
    def finished(self, run: Run, metrics: dict[str, Any]) -> None: ...
    def blocked(self, run: Run, record: dict[str, Any]) -> None: ...


@dataclass
class Job:
    """A plan bound to its output directory: what an executor receives (it pickles, for remote executors)."""

    manifest: dict[str, Any]  # resolved manifest, as saved with the results
    output_dir: Path
    plan: list[Run]
    manifest_file: str | None = None
    events: Any = field(default_factory=NoEvents, repr=False)
    _blocked: set[str] = field(default_factory=set, repr=False)  # runs already recorded as blocked here

    def pending(self) -> list[Run]:
        """Runs without results and not blocked by an unhealthy source, in dependency order (the plan's order)."""
        return [r for r in self.plan if not store.is_finished(self.output_dir, r.id) and not self.skip_if_blocked(r)]

    def blocked_by(self, run: Run) -> dict[str, Any] | None:
        """What keeps `run` from training: a run it copies from finished unhealthy, or was itself blocked."""
        if self.resolved.raw.execution.on_unhealthy == "train":
            return None
        for dep in run.depends_on:
            folder = store.run_dir(self.output_dir, dep)
            if store.is_finished(self.output_dir, dep):
                m = store.read_json(folder / store.METRICS_FILE)
                if m.get("health", "ok") != "ok":
                    return {"run_id": run.id, "blocked_by": dep, "health": m["health"],
                            "reason": f"{m.get('condition', '?')} {dep} is {m['health']}: {m.get('health_reason')}"}
            elif (folder / store.BLOCKED_FILE).is_file():
                up = store.read_json(folder / store.BLOCKED_FILE)
                return {**up, "run_id": run.id, "blocked_by": dep}
        return None

    def skip_if_blocked(self, run: Run) -> bool:
        """True (and recorded in the run's blocked.json, for status and report) when `run` must not be trained."""
        record = self.blocked_by(run)
        path = store.run_dir(self.output_dir, run.id) / store.BLOCKED_FILE
        if record is None:
            if distributed.is_main():
                path.unlink(missing_ok=True)  # its source was healthy after all (e.g. rerun): train it
            return False
        if run.id not in self._blocked:  # record and announce it once, however often executors ask
            self._blocked.add(run.id)
            if distributed.is_main():
                store.write_json(path, record)
            getattr(self.events, "blocked", lambda *a: None)(run, record)
        return True

    def run_dir(self, run_id: str) -> Path:
        """Where a run's files live (run.json, metrics.json, weights, logs)."""
        return store.run_dir(self.output_dir, run_id)

    def is_finished(self, run_id: str) -> bool:
        return store.is_finished(self.output_dir, run_id)

    def metrics(self, run_id: str) -> dict[str, Any]:
        """A finished run's metrics.json."""
        return store.read_json(self.run_dir(run_id) / store.METRICS_FILE)

    def context(self, run: Run) -> RunContext:
        """A fresh context for `run`: progress goes to this job's events (loggers start when the run does)."""
        return RunContext(run, self.events)

    def _start_loggers(self, run: Run) -> list[Any]:
        """The manifest's loggers for `run`, on the main process only."""
        if not distributed.is_main():
            return []
        started = []
        for i, (entry, opts) in enumerate(self.resolved.loggers):
            try:
                started.append(entry.obj.start(run, self.run_dir(run.id), self.manifest, opts))
            except UserError as exc:
                for logger in started:
                    logger.close()
                raise within(exc, f"execution.loggers.{i}", self.manifest_file) from None
        return started

    def is_source(self, run: Run) -> bool:
        return any(r.source == run.id for r in self.plan)

    @cached_property
    def resolved(self) -> ResolvedManifest:
        return resolve(self.manifest, self.manifest_file)

    def device(self) -> torch.device:
        wanted = self.resolved.raw.execution.device
        if wanted == "auto":
            wanted = "cuda" if torch.cuda.is_available() else "cpu"
        return distributed.local_device(torch.device(wanted))

    def dataset(self) -> DatasetSource:
        entry, opts = self.resolved.dataset
        try:
            return entry.obj.open(opts)
        except UserError as exc:
            raise within(exc, "dataset.options", self.manifest_file) from None

    def run_one(self, run: Run, context: RunContext | None = None) -> dict[str, Any] | None:
        """Train one run in this process (its sources must be finished) and write its results; None when it is
        blocked by an unhealthy source (recorded, not trained).

        An executor that needs to reach the run while it trains (e.g. `context.checkpoint_now()` on preemption)
        passes its own `context` (from `job.context(run)`).
        """
        if store.is_finished(self.output_dir, run.id):
            return self.metrics(run.id)
        if self.skip_if_blocked(run):
            return None
        missing = [d for d in run.depends_on if not store.is_finished(self.output_dir, d)]
        if missing:
            raise RuntimeError(f"run {run.id} started before the runs it copies from: {missing}")
        m = self.resolved
        threads = m.raw.execution.threads
        if threads:
            torch.set_num_threads(threads)
        setup = RunSetup(m, self.dataset(), self.output_dir, self.device())
        finetuned = run.id in {r.id for r in finetuned_runs(self.plan).values()}
        save = m.raw.execution.save_weights == "all" or self.is_source(run) or finetuned or run.n == 0
        if distributed.is_main():
            store.write_json(store.run_dir(self.output_dir, run.id) / store.RUN_FILE, run.to_dict())
            if finetuned:
                _save_init(run, setup)
        self.events.started(run)
        context = context or self.context(run)
        context.loggers = self._start_loggers(run)
        try:
            metrics = train_run(run, setup, save, context)
        finally:
            context.close()
        self.events.finished(run, metrics)
        return metrics

    @classmethod
    def load(cls, output_dir: Path) -> "Job":
        """The job saved in an output directory by `start_job` (for worker processes)."""
        manifest = yaml.safe_load((output_dir / store.MANIFEST_FILE).read_text())
        plan = [Run.from_dict(r) for r in store.read_json(output_dir / store.PLAN_FILE)]
        return cls(manifest, output_dir, plan)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("resolved", None)
        state["events"] = NoEvents()
        return state


def finetuned_runs(plan: list[Run]) -> dict[tuple[str, int], Run]:
    """Per (split, seed), the network the T-metric compares: AnB+ at its largest n, else BnB+ at its largest n."""
    best: dict[tuple[str, int], tuple[tuple[bool, int], Run]] = {}
    for run in plan:
        for split, condition in [(run.split, run.condition)] + [(a["split"], a["condition"]) for a in run.also]:
            rank = (condition == "AnB+", run.n)
            if condition in ("AnB+", "BnB+") and ((split, run.seed) not in best or rank > best[split, run.seed][0]):
                best[split, run.seed] = (rank, run)
    return {key: run for key, (_, run) in best.items()}


def _save_init(run: Run, setup: RunSetup) -> None:
    """Keep the run's random initialisation (init.pt) beside its final weights."""
    path = store.run_dir(setup.output_dir, run.id) / store.INIT_FILE
    if not path.is_file():
        state = {k: v.detach().cpu() for k, v in initial_network(run, setup).state_dict().items()}
        store.atomic_write(path, lambda p: torch.save(state, p))


def prepare_output(m: ResolvedManifest, output_dir: Path | None = None) -> Path:
    """The output directory, created and checked writable."""
    out = Path(output_dir or m.raw.output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to the output directory '{out}': {exc.strerror}.", file=m.file,
                        key="output_dir", hint="Choose a directory you can write to.") from None
    return out


def start_job(m: ResolvedManifest, plan: list[Run], out: Path, events: Any = None) -> Job:
    """Save the resolved manifest and the plan beside the results (call it holding the OutputLock); set damaged
    records aside, so that their runs train again."""
    store.write_text(out / store.MANIFEST_FILE, m.to_yaml())
    store.write_json(out / store.PLAN_FILE, plan_to_json(plan))
    events = events or NoEvents()
    for run, why in set_aside_damaged(out, plan):
        getattr(events, "damaged", lambda *a: None)(run, why)
    return Job(m.to_dict(), out, plan, m.file, events)


def set_aside_damaged(out: Path, plan: list[Run]) -> list[tuple[Run, str]]:
    """Rename every metrics.json whose bytes are not a JSON object to metrics.json.damaged (its run is then not
    finished, and trains again); a readable record that is not valid stays, for the user to look at."""
    found = []
    for run in plan:
        path = store.run_dir(out, run.id) / store.METRICS_FILE
        if not path.is_file():
            continue
        try:
            read_record(path)
        except BrokenRecord as exc:
            if exc.damaged:
                os.replace(path, path.with_name(path.name + DAMAGED_SUFFIX))
                found.append((run, exc.detail))
    return found
