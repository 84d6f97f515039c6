"""Independent runs in parallel, one worker process per device, a transfer run only after the runs it copies from."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from queue import Queue

from benchbridge import store
from benchbridge.execute.job import Job
from benchbridge.plan import Run

LOG_FILE = "worker.log"


def worker_command(job: Job, run: Run) -> list[str]:
    return [sys.executable, "-m", "benchbridge.execute.worker", str(job.output_dir), run.id]


def run_in_subprocess(job: Job, run: Run, device: str) -> int:
    """Train `run` in a child process that sees only `device` (CUDA_VISIBLE_DEVICES); its exit status."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": device}
    log = store.run_dir(job.output_dir, run.id) / LOG_FILE
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as stream:
        return subprocess.run(worker_command(job, run), env=env, stdout=stream, stderr=subprocess.STDOUT,
                              check=False).returncode


def run_parallel(job: Job, devices: list[str], launch: Callable[[Job, Run, str], int] = run_in_subprocess
                 ) -> list[Run]:
    """Run the job's pending runs, at most one per device at a time; the runs that failed (and their dependents)."""
    free: Queue[str] = Queue()
    for d in devices:
        free.put(d)
    waiting = job.pending()
    failed: list[Run] = []
    running: dict[Future[int], Run] = {}

    def start(run: Run) -> int:
        device = free.get()
        try:
            return launch(job, run, device)
        finally:
            free.put(device)

    with ThreadPoolExecutor(max_workers=len(devices)) as pool:
        while waiting or running:
            done_ids = {r.id for r in job.plan if store.is_finished(job.output_dir, r.id)}
            bad_ids = {r.id for r in failed}
            for run in list(waiting):
                if job.skip_if_blocked(run):  # a source finished unhealthy: recorded, not trained
                    waiting.remove(run)
                elif any(d in bad_ids for d in run.depends_on):
                    waiting.remove(run)
                    failed.append(run)
                elif all(d in done_ids for d in run.depends_on) and len(running) < len(devices):
                    waiting.remove(run)
                    job.events.started(run)
                    running[pool.submit(start, run)] = run
            if not running:
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                run = running.pop(future)
                if future.result() == 0 and store.is_finished(job.output_dir, run.id):
                    job.events.finished(run, store.read_json(store.run_dir(job.output_dir, run.id)
                                                             / store.METRICS_FILE))
                else:
                    failed.append(run)
    return failed
