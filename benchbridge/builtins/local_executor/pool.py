"""Independent runs in parallel: one worker process per GPU, or a pool of CPU worker processes; a transfer run
starts only after the runs it copies from are finished."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from queue import Queue

from benchbridge.api import Job, Run, UserError

LOG_FILE = "worker.log"
USER_ERROR_FILE = "user_error.txt"  # a worker process's user mistake, for the parent to raise (then removed)
USER_ERROR_EXIT = 2


def worker_command(job: Job, run: Run) -> list[str]:
    return [sys.executable, "-m", "benchbridge.builtins.local_executor.worker", str(job.output_dir), run.id]


def run_in_subprocess(job: Job, run: Run, device: str) -> int:
    """Train `run` in a child process that sees only `device` (CUDA_VISIBLE_DEVICES); its exit status. A user
    mistake the child met (it leaves its sentence in USER_ERROR_FILE) is raised here, as without workers."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": device}
    log = job.run_dir(run.id) / LOG_FILE
    log.parent.mkdir(parents=True, exist_ok=True)
    said = job.run_dir(run.id) / USER_ERROR_FILE
    said.unlink(missing_ok=True)
    with open(log, "w") as stream:
        code = subprocess.run(worker_command(job, run), env=env, stdout=stream, stderr=subprocess.STDOUT,
                              check=False).returncode
    if code == USER_ERROR_EXIT and said.is_file():
        message = said.read_bytes().decode("utf-8", "replace")
        said.unlink()
        raise UserError(message)
    return code


_busy = threading.Event()  # in a pool process: set while it trains a run


def _init_cpu_worker(threads: int, parent: int) -> None:
    import torch

    torch.set_num_threads(threads)
    threading.Thread(target=exit_with_parent, args=(parent,), daemon=True, name="exit-with-parent").start()


def exit_with_parent(parent: int, poll_s: float = 1.0, grace_s: float = 300.0) -> None:
    """In a pool process: once `parent` is gone (killed), stop too, instead of training on unseen. A run in
    progress gets SIGTERM, as from a scheduler (the trainer saves its checkpoint and stops); the process exits when
    the run returns, or after `grace_s`."""
    while os.getppid() == parent:
        time.sleep(poll_s)
    if _busy.is_set():
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while _busy.is_set() and time.monotonic() < deadline:
            time.sleep(poll_s)
    os._exit(1)


def _train_in_worker(job: Job, run: Run) -> int | str:
    """In a pool process: train one run; 0, or a user mistake's sentence (the parent raises it, as without
    workers), or 1 for any other failure. Either failure's traceback goes to the run's worker log."""
    _busy.set()
    try:
        job.run_one(run)
        return 0
    except BaseException as exc:  # the parent sees the status or the sentence; the log says where
        log = job.run_dir(run.id) / LOG_FILE
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
        return str(exc) if isinstance(exc, UserError) else 1
    finally:
        _busy.clear()


@contextmanager
def cpu_pool(workers: int, threads: int) -> Iterator[Callable[[Job, Run, str], int]]:
    """A `launch` for run_parallel that trains each run in one of `workers` long-lived processes.

    The processes live for the whole grid, so a dataset cached in memory (execution.cache_data) is decoded once
    per process, not once per run. Each process uses `threads` torch threads, and exits when this process is
    killed (`exit_with_parent`).
    """
    context = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_cpu_worker,
                             initargs=(threads, os.getpid())) as pool:

        def launch(job: Job, run: Run, _slot: str) -> int:
            try:
                status = pool.submit(_train_in_worker, job, run).result()
            except BrokenProcessPool:  # a worker was killed (out of memory, a signal): its run is not finished
                return 1
            if isinstance(status, str):
                raise UserError(status)  # the sentence the worker met, whole (file, key and hint are in it)
            return status

        yield launch


def run_parallel(job: Job, devices: list[str], launch: Callable[[Job, Run, str], int] = run_in_subprocess
                 ) -> list[Run]:
    """Run the job's pending runs, at most one per device at a time; the runs that failed (and their dependents).

    A user mistake met by a run (a corrupt sample, a missing file) is raised as it was met, as without workers:
    no further run starts, the runs in progress finish, then the first such error is raised."""
    free: Queue[str] = Queue()
    for d in devices:
        free.put(d)
    waiting = job.pending()
    failed: list[Run] = []
    running: dict[Future[int], Run] = {}
    mistake: UserError | None = None

    def start(run: Run) -> int:
        device = free.get()
        try:
            return launch(job, run, device)
        finally:
            free.put(device)

    with ThreadPoolExecutor(max_workers=len(devices)) as pool:
        while waiting or running:
            done_ids = {r.id for r in job.plan if job.is_finished(r.id)}
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
                try:
                    status = future.result()
                except UserError as exc:
                    mistake, status = mistake or exc, 1
                    waiting.clear()  # start nothing more: the error stops the grid, as it does without workers
                if status == 0 and job.is_finished(run.id):
                    job.events.finished(run, job.record(run.id))
                else:
                    failed.append(run)
    if mistake is not None:
        raise mistake
    return failed
