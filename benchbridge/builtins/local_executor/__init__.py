"""Run the plan on this machine: one network after another in this process, one per GPU, or several CPU runs at once
in worker processes (execution.workers)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import Job, Run, UserError, check_gpu_indices, hookimpl, worker_count
from benchbridge.builtins.local_executor.pool import LOG_FILE as WORKER_LOG_FILE
from benchbridge.builtins.local_executor.pool import cpu_pool, run_parallel


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    devices: list[int] | Literal["all"] | None = Field(
        None, description="GPUs to spread independent runs over, one run per GPU at a time, each in its own "
        "process (CUDA_VISIBLE_DEVICES); 'all': every visible GPU; null: no GPU fan-out (CPU runs follow "
        "execution.workers).")


class LocalExecutor:
    """Runs pending runs on this machine, in the plan's dependency order."""

    name = "local"
    Options = LocalOptions
    description = "this machine: one run after another, one run per GPU (devices), or CPU worker processes"

    def supports_torchrun(self, options: LocalOptions) -> bool:
        return options.devices is None  # one run at a time, here: torchrun may start its processes

    def execute(self, job: Job, options: LocalOptions) -> None:
        if options.devices is not None:
            self._on_gpus(job, options.devices)
            return
        pending = job.pending()  # once: it also records (and announces) runs blocked by an unhealthy source
        workers = min(worker_count(job.manifest), len(pending))
        if workers <= 1:
            for run in pending:
                job.run_one(run)
            return
        job.open_datasets()  # prepared once here, not by several workers at the same time
        with cpu_pool(workers, job.manifest.raw.execution.threads or 1) as launch:
            _raise_failed(job, run_parallel(job, [f"cpu{i}" for i in range(workers)], launch))

    def _on_gpus(self, job: Job, devices: list[int] | Literal["all"]) -> None:
        key = "execution.executor.options.devices"
        if devices == "all":
            devices = list(range(torch.cuda.device_count()))
            if not devices:
                raise UserError(f"{key} is 'all' but no GPU is visible.", key=key, file=job.manifest_file,
                                hint="List device numbers, or leave devices out to run on the CPU.")
        check_gpu_indices(job.manifest, devices, key)
        job.open_datasets()
        _raise_failed(job, run_parallel(job, [str(d) for d in devices]))


def _raise_failed(job: Job, failed: list[Run]) -> None:
    if failed:
        logs = ", ".join(str(job.run_dir(r.id) / WORKER_LOG_FILE) for r in failed[:3])
        raise UserError(f"{len(failed)} run(s) failed or could not start because a run they copy from "
                        f"failed: {', '.join(r.id for r in failed)}.", file=str(job.output_dir),
                        hint=f"See the worker logs ({logs}); run again to retry them.")


@hookimpl
def register_executors(register: Any) -> None:
    register(LocalExecutor())
