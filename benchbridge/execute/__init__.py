"""Execute a plan: prepare the output directory, hand pending runs to an executor plugin, record results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from benchbridge.errors import UserError
from benchbridge.execute import distributed
from benchbridge.execute.devices import check_devices, wanted_device
from benchbridge.execute.context import Events, NoEvents
from benchbridge.execute.job import Job, OutputLock, prepare_output, start_job
from benchbridge.execute.pair_setup import prepare_sources
from benchbridge.manifest import ResolvedManifest
from benchbridge.plan import Run

__all__ = ["Events", "Job", "NoEvents", "OutputLock", "check_torchrun", "execute_plan", "prepare_output", "start_job"]


def check_torchrun(m: ResolvedManifest) -> None:
    """Refuse nproc_per_node > 1 unless the manifest's executor says each run may train under torchrun."""
    entry, options = m.executor
    supports = getattr(entry.obj, "supports_torchrun", None)
    if supports is None or not supports(options):
        nproc = m.raw.execution.nproc_per_node
        raise UserError(f"execution.nproc_per_node={nproc} trains one run on several processes launched by "
                        f"torchrun; executor '{entry.name}' with these options cannot run it.", file=m.file,
                        key="execution.nproc_per_node", hint="Use the 'local' executor without devices, or set "
                        "nproc_per_node to 1.")


def execute_plan(m: ResolvedManifest, plan: list[Run], events: Any = None,
                 output_dir: Path | None = None) -> Job:
    """Run every pending run of the plan with the manifest's executor; finished runs are skipped."""
    check_devices(m)
    with distributed.session(torch.device(wanted_device(m))):
        if not distributed.is_main():  # a torchrun worker: rank 0 holds the lock and writes the plan
            distributed.barrier()
            job = Job(m, Path(output_dir or m.raw.output_dir), plan)
            m.executor[0].obj.execute(job, m.executor[1])
            return job
        out = prepare_output(m, output_dir)
        with OutputLock(out):
            job = start_job(m, plan, out, events)
            prepare_sources(m, plan, out)  # sources and targets: checkpoints written, target images checked
            distributed.barrier()
            entry, options = m.executor
            entry.obj.execute(job, options)
    return job

