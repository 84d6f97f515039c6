"""Run the plan here: one network after another in this process, or one per device in parallel worker processes."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import WORKER_LOG_FILE, Job, UserError, hookimpl, run_parallel


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    devices: list[int] | Literal["all"] | None = Field(
        None, description="GPUs to spread independent runs over, one run per GPU at a time, each in its own "
        "process (CUDA_VISIBLE_DEVICES); 'all': every visible GPU; null: one run after another in this process.")


class LocalExecutor:
    """Runs pending runs in this process, sequentially, in the plan's dependency order."""

    name = "local"
    Options = LocalOptions
    description = "this machine: one run after another, or one run per GPU in parallel (devices)"

    def supports_torchrun(self, options: LocalOptions) -> bool:
        return options.devices is None  # one run at a time, here: torchrun may start its processes

    def execute(self, job: Job, options: LocalOptions) -> None:
        if options.devices is None:
            for run in job.pending():
                job.run_one(run)
            return
        devices = options.devices
        if devices == "all":
            devices = list(range(torch.cuda.device_count()))
            if not devices:
                raise UserError("execution.executor.options.devices is 'all' but no GPU is visible.",
                                key="execution.executor.options.devices", hint="List device numbers, or "
                                "leave devices out to run one network after another.")
        job.dataset()  # prepared once here, not by several workers at the same time
        failed = run_parallel(job, [str(d) for d in devices])
        if failed:
            logs = ", ".join(str(job.run_dir(r.id) / WORKER_LOG_FILE) for r in failed[:3])
            raise UserError(f"{len(failed)} run(s) failed or could not start because a run they copy from "
                            f"failed: {', '.join(r.id for r in failed)}.", file=str(job.output_dir),
                            hint=f"See the worker logs ({logs}); run again to retry them.")


@hookimpl
def register_executors(register: Any) -> None:
    register(LocalExecutor())
