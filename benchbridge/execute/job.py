"""A Job is a plan bound to an output directory: what executors receive. It pickles, for remote executors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import yaml
from pydantic import BaseModel

from benchbridge.results import store
from benchbridge.data.source import DatasetSource
from benchbridge.errors import UserError, within
from benchbridge.execute import distributed
from benchbridge.execute.context import Events, NoEvents, RunContext
from benchbridge.execute.pair_setup import open_dataset
from benchbridge.execute.train import RunSetup, train_run
from benchbridge.manifest import ResolvedManifest, resolve
from benchbridge.execute.construct import initial_network
from benchbridge.plan import Run, plan_to_json
from benchbridge.results.record import RunRecord
from benchbridge.results import record_of, set_aside_damaged
from benchbridge.results.store import OutputLock

__all__ = ["Events", "Job", "NoEvents", "OutputLock", "finetuned_runs", "prepare_output", "start_job"]


@dataclass
class Job:
    """A plan bound to its output directory: what an executor receives (it pickles, for remote executors)."""

    manifest: ResolvedManifest  # pickles as its resolved dict, validated again once where it is unpickled
    output_dir: Path
    plan: list[Run]
    events: Events = field(default_factory=NoEvents, repr=False)
    _blocked: set[str] = field(default_factory=set, repr=False)  # runs already recorded as blocked here

    def pending(self) -> list[Run]:
        """Runs without results and not blocked by an unhealthy source, in dependency order (the plan's order)."""
        return [r for r in self.plan if not store.is_finished(self.output_dir, r.id) and not self.skip_if_blocked(r)]

    def blocked_by(self, run: Run) -> dict[str, Any] | None:
        """What keeps `run` from training: a run it copies from finished unhealthy, or was itself blocked."""
        if self.manifest.raw.execution.on_unhealthy == "train":
            return None
        for dep in run.depends_on:
            folder = store.run_dir(self.output_dir, dep)
            if store.is_finished(self.output_dir, dep):
                rec = self.record(dep)
                if (rec.health or "ok") != "ok":
                    return {"run_id": run.id, "blocked_by": dep, "health": rec.health,
                            "reason": f"{rec.condition} {dep} is {rec.health}: {rec.health_reason}"}
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

    @property
    def manifest_file(self) -> str | None:
        """The manifest file the job came from (for error messages)."""
        return self.manifest.file

    def record(self, run_id: str) -> RunRecord:
        """A finished run's record."""
        [run] = [r for r in self.plan if r.id == run_id]
        record = record_of(self.output_dir, run)
        assert record is not None, f"run {run_id} is not finished"
        return record

    def context(self, run: Run) -> RunContext:
        """A fresh context for `run`: progress goes to this job's events (loggers start when the run does)."""
        return RunContext(run, self.events)

    def _start_loggers(self, run: Run) -> list[Any]:
        """The manifest's loggers for `run`, on the main process only."""
        if not distributed.is_main():
            return []
        started = []
        manifest = self.manifest.to_dict()
        for i, (entry, opts) in enumerate(self.manifest.loggers):
            try:
                started.append(entry.obj.start(run, self.run_dir(run.id), manifest, opts))
            except UserError as exc:
                for logger in started:
                    logger.close()
                raise within(exc, f"execution.loggers.{i}", self.manifest_file) from None
        return started

    def is_source(self, run: Run) -> bool:
        return any(r.source == run.id for r in self.plan)

    def device(self) -> torch.device:
        wanted = self.manifest.raw.execution.device
        if wanted == "auto":
            wanted = "cuda" if torch.cuda.is_available() else "cpu"
        return distributed.local_device(torch.device(wanted))

    def dataset(self, task: str | None = None) -> DatasetSource:
        """The dataset of a task's runs (`Run.task`; None: the manifest's own), opened (a user error names its
        key). Generated data is made the first time."""
        return open_dataset(self.manifest, task)

    def open_datasets(self) -> None:
        """Open (and so prepare, where a plugin generates its data) every dataset the pending runs read, once, in
        this process: executors call it before they start workers that would otherwise race to prepare them."""
        for task in dict.fromkeys(r.task for r in self.plan):
            self.dataset(task)

    def run_one(self, run: Run, context: RunContext | None = None) -> RunRecord | None:
        """Train one run in this process (its sources must be finished) and write its results; None when it is
        blocked by an unhealthy source (recorded, not trained).

        An executor that needs to reach the run while it trains (e.g. `context.checkpoint_now()` on preemption)
        passes its own `context` (from `job.context(run)`).
        """
        if store.is_finished(self.output_dir, run.id):
            return self.record(run.id)
        if self.skip_if_blocked(run):
            return None
        missing = [d for d in run.depends_on if not store.is_finished(self.output_dir, d)]
        if missing:
            raise RuntimeError(f"run {run.id} started before the runs it copies from: {missing}")
        m = self.manifest
        threads = m.raw.execution.threads
        if threads:
            torch.set_num_threads(threads)
        setup = RunSetup(m, self.dataset(run.task), self.output_dir, self.device(), run.task)
        finetuned = run.id in {r.id for r in finetuned_runs(self.plan).values()}
        save = m.raw.execution.save_weights == "all" or self.is_source(run) or finetuned or run.n == 0
        if distributed.is_main():
            store.write_json(store.run_dir(self.output_dir, run.id) / store.RUN_FILE, run.to_dict())
            if finetuned or (save and run.strategy == "scratch"):  # a source keeps its initialisation (T-metric)
                _save_init(run, setup)
        self.events.started(run)
        context = context or self.context(run)
        context.loggers = self._start_loggers(run)
        try:
            record = train_run(run, setup, save, context)
        finally:
            context.close()
        self.events.finished(run, record)
        return record

    @classmethod
    def load(cls, output_dir: Path) -> "Job":
        """The job saved in an output directory by `start_job` (for worker processes)."""
        manifest = resolve(yaml.safe_load((output_dir / store.MANIFEST_FILE).read_text()))
        plan = [Run.from_dict(r) for r in store.read_json(output_dir / store.PLAN_FILE)]
        return cls(manifest, output_dir, plan)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "events": NoEvents()}


def finetuned_runs(plan: list[Run]) -> dict[tuple[str, int], Run]:
    """Per (split, seed), the network the T-metric compares: AnB+ at its largest n, else BnB+ at its largest n."""
    best: dict[tuple[str, int], tuple[tuple[bool, int], Run]] = {}
    for run in plan:
        for split, condition in run.labels:
            rank = (condition == "AnB+", run.n)
            if condition in ("AnB+", "BnB+") and ((split, run.seed) not in best or rank > best[split, run.seed][0]):
                best[split, run.seed] = (rank, run)
    return {key: run for key, (_, run) in best.items()}


def _save_init(run: Run, setup: RunSetup) -> None:
    """Keep the run's random initialisation (init.pt) beside its final weights."""
    path = store.run_dir(setup.output_dir, run.id) / store.INIT_FILE
    if not path.is_file():
        store.write_weights(path, initial_network(run, setup.manifest).state_dict())



class ExecutorPlugin(Protocol):
    """What an executor registers through `register_executors`."""

    name: str
    Options: type[BaseModel]

    def execute(self, job: Job, options: Any) -> None:
        """Train `job.pending()` in dependency order: `job.run_one(run, job.context(run))` where each run goes."""
        ...

    def supports_torchrun(self, options: Any) -> bool:
        """Optional (default False): True if each run may train on several processes launched by torchrun."""
        ...

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


def start_job(m: ResolvedManifest, plan: list[Run], out: Path, events: Events | None = None) -> Job:
    """Save the resolved manifest and the plan beside the results (call it holding the OutputLock); set damaged
    records aside, so that their runs train again."""
    store.write_text(out / store.MANIFEST_FILE, m.to_yaml())
    store.write_json(out / store.PLAN_FILE, plan_to_json(plan))
    events = events or NoEvents()
    for run, why in set_aside_damaged(out, plan):
        getattr(events, "damaged", lambda *a: None)(run, why)  # an executor's own Events may not have it
    return Job(m, out, plan, events)
