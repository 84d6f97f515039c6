"""Slurm (or submitit's local and debug executors): one job per run, in job arrays, bases before transfer runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import Job, Run, UserError, hookimpl

try:
    import submitit
    from submitit.helpers import Checkpointable, DelayedSubmission
except ImportError:  # the executor is listed, and says how to install submitit when chosen
    submitit = None
    Checkpointable = object  # type: ignore[assignment,misc]


class SubmititOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cluster: Literal["slurm", "local", "debug"] | None = Field(
        None, description="slurm; local (subprocesses here, for testing); debug (in this process); "
        "null: slurm when available, else local.")
    partition: str | None = Field(None, description="Slurm partition.")
    account: str | None = Field(None, description="Slurm account to charge.")
    time: int = Field(240, ge=1, description="Time limit of each run's job, in minutes (a run preempted or out "
                      "of time checkpoints and is requeued).")
    gpus_per_run: int = Field(1, ge=0, description="GPUs per run's job.")
    cpus_per_task: int = Field(8, ge=1, description="CPU cores per run's job (data loading).")
    mem_gb: int | None = Field(None, ge=1, description="Memory per run's job, in GB.")
    array_parallelism: int = Field(64, ge=1, description="At most this many runs' jobs at once.")
    folder: str | None = Field(None, description="submitit's logs and pickles (default: OUTPUT_DIR/submitit).")


class TrainRun(Checkpointable):
    """One run of a job as a submitit callable; on preemption it checkpoints the training and is resubmitted."""

    def __init__(self, job: Job, run_id: str) -> None:
        self.job, self.run_id = job, run_id
        [self.run] = [r for r in job.plan if r.id == run_id]
        self.context = job.context(self.run)

    def __call__(self) -> str:
        self.job.run_one(self.run, self.context)
        return self.run_id

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        self.context.checkpoint_now()  # between steps: saved now; else the last periodic checkpoint is resumed
        return DelayedSubmission(self, *args, **kwargs)


class SubmititExecutor:
    """Submits the pending runs with submitit: a job array of runs whose sources are done, wave after wave."""

    name = "submitit"
    Options = SubmititOptions
    description = "Slurm through submitit (or its local executor): job arrays, bases first, requeue on preemption"

    def execute(self, job: Job, options: SubmititOptions) -> None:
        if submitit is None:
            raise UserError("the submitit executor needs the submitit package.", key="execution.executor.name",
                            hint="pip install 'benchbridge[slurm]' (or pip install submitit).")
        job = dataclasses.replace(job, output_dir=job.output_dir.resolve())
        job.open_datasets()  # prepared once here, not by several jobs at the same time
        executor = self._executor(job, options)
        failed: set[str] = set()
        while True:
            done = {r.id for r in job.plan if job.is_finished(r.id)}
            pending = [r for r in job.pending() if r.id not in failed]
            failed |= {r.id for r in pending if failed.intersection(r.depends_on)}
            wave = [r for r in pending if r.id not in failed and done.issuperset(r.depends_on)]
            if not wave:
                break
            failed |= self._submit_wave(job, executor, wave)
        if failed:
            raise UserError(f"{len(failed)} run(s) failed or depend on one that did: {', '.join(sorted(failed))}.",
                            file=str(job.output_dir), hint=f"See submitit's logs in {self._folder(job, options)}; "
                            "run again to retry them.")

    def _submit_wave(self, job: Job, executor: Any, wave: list[Run]) -> set[str]:
        with executor.batch():
            handles = [executor.submit(TrainRun(job, r.id)) for r in wave]
        for run in wave:
            job.events.started(run)
        failed = set()
        for run, handle in zip(wave, handles):
            try:
                handle.result()
            except Exception:  # submitit re-raises the job's error; its log keeps the traceback
                failed.add(run.id)
                continue
            job.events.finished(run, job.record(run.id))
        return failed

    def _folder(self, job: Job, options: SubmititOptions) -> Path:
        return Path(options.folder) if options.folder else job.output_dir / "submitit"

    def _executor(self, job: Job, o: SubmititOptions) -> Any:
        executor = submitit.AutoExecutor(folder=self._folder(job, o), cluster=o.cluster)
        params: dict[str, Any] = {"timeout_min": o.time, "gpus_per_node": o.gpus_per_run, "tasks_per_node": 1,
                                  "cpus_per_task": o.cpus_per_task, "name": f"benchbridge-{job.output_dir.name}",
                                  "slurm_array_parallelism": o.array_parallelism}
        if o.mem_gb:
            params["mem_gb"] = o.mem_gb
        if o.partition:
            params["slurm_partition"] = o.partition
        if o.account:
            params["slurm_account"] = o.account
        executor.update_parameters(**params)
        return executor


@hookimpl
def register_executors(register: Any) -> None:
    register(SubmititExecutor())
