"""Run the plan here, one network after another, in dependency order."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from benchbridge.execute import Job
from benchbridge.hookspecs import hookimpl


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocalExecutor:
    """Runs pending runs in this process, sequentially, in the plan's dependency order."""

    name = "local"
    Options = LocalOptions
    description = "this machine, one run after another"

    def execute(self, job: Job, options: LocalOptions) -> None:
        for run in job.pending():
            job.run_one(run)


@hookimpl
def register_executors(register: Any) -> None:
    register(LocalExecutor())
