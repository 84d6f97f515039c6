"""`run` and `status`: train the plan's networks (skipping finished ones) and say where a grid stands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchbridge.cli._console import err_console, manifest_argument, overrides_argument, print_json, say
from benchbridge.cli.report import print_table
from benchbridge.execute import check_torchrun, distributed, execute_plan
from benchbridge.execute.checkpoint import Preempted
from benchbridge.execute.devices import check_devices
from benchbridge.manifest import load_manifest
from benchbridge.plan import Run, make_plan
from benchbridge.results.record import RunRecord
from benchbridge.results import Result, blocked_runs, broken, load_results, run_states, unhealthy
from benchbridge.results.store import lock_holder

UNHEALTHY_EXIT = 3
"""Exit status of `run` when a run diverged or did not learn, or was blocked by one (2 stays for user mistakes)."""


class RichEvents:
    """Shows the grid's progress and the current run's iterations on stderr."""

    def __init__(self, progress: Progress, pending: int) -> None:
        self.bar = progress
        self.pending = pending
        self._grid: Any = None  # the grid's bar, shown at the first event (after the lock is taken)
        self.tasks: dict[str, Any] = {}  # run id -> its bar (parallel executors run several at once)

    def grid(self) -> Any:
        """The grid's bar; the first call starts the display (so a refused run shows none)."""
        if self._grid is None:
            self.bar.start()
            self._grid = self.bar.add_task("grid", total=self.pending)
        return self._grid

    def started(self, run: Run) -> None:
        self.grid()
        label = f"{run.condition} n={run.n} {run.pair} s{run.seed}"
        self.tasks[run.id] = self.bar.add_task(label, total=None)

    def progress(self, run: Run, done: int, total: int) -> None:
        self.bar.update(self.tasks[run.id], completed=done, total=total)

    def finished(self, run: Run, record: RunRecord) -> None:
        self.bar.remove_task(self.tasks.pop(run.id))
        health = record.health or "ok"
        note = "" if health == "ok" else f" [{health.upper()}: {record.health_reason}]"
        self.bar.console.print(
            f"{run.id} {run.condition:>13} n={run.n} {run.pair}: top-1 {record.top1:.3f} "
            f"({record.wall_time_s:.1f}s){note}", highlight=False)
        self.bar.advance(self.grid())

    def damaged(self, run: Run, why: str) -> None:
        say("warning:", "yellow", f"run {run.id} ({run.condition} n={run.n} {run.pair}): its metrics.json was "
            f"damaged ({why}); kept as metrics.json.damaged, the run trains again.")

    def blocked(self, run: Run, record: dict[str, Any]) -> None:
        self.bar.console.print(f"{run.id} {run.condition:>13} n={run.n} {run.pair}: not trained, blocked by "
                               f"{record['blocked_by']} ({record.get('health')})", highlight=False)
        self.bar.advance(self.grid())


@click.command()
@manifest_argument
@overrides_argument
@click.option("--json", "as_json", is_flag=True, help="Print the results table as JSON to stdout.")
@click.option("--nproc-per-node", type=click.IntRange(min=1), default=None,
              help="Train each run with DDP on this many processes (GPUs), launched with torchrun.")
def run(manifest: str, overrides: tuple[str, ...], as_json: bool, nproc_per_node: int | None) -> None:
    """Train every network of MANIFEST not yet finished; KEY=VALUE overrides apply before validation."""
    if nproc_per_node:
        overrides = (*overrides, f"execution.nproc_per_node={nproc_per_node}")
    m = load_manifest(manifest, list(overrides))
    check_devices(m)
    nproc = m.raw.execution.nproc_per_node
    if nproc > 1 and not distributed.launched_by_torchrun():
        code = _torchrun(m, manifest, overrides, as_json, nproc)
        if code == 0 and health_summary(load_results(m.raw.output_dir), blocked_runs(m.raw.output_dir)):
            code = UNHEALTHY_EXIT  # said here: torchrun turns a worker's non-zero status into its own failure
        sys.exit(code)
    runs = make_plan(m)
    if not distributed.is_main_process():
        execute_plan(m, runs)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    progress = Progress(*columns, console=err_console, transient=False)  # started by the first event
    try:
        job = execute_plan(m, runs, RichEvents(progress, len(runs)))
    except Preempted as exc:
        progress.stop()
        say("stopped:", "yellow", str(exc))
        sys.exit(128 + exc.signum)
    finally:
        progress.stop()
    if as_json:
        print_json(_results_json(load_results(job.output_dir)))
    else:
        print_table(job.output_dir,
                    title=f"top-1 of each network on its own task's validation images: {job.output_dir}")
    unhealthy_runs = health_summary(load_results(job.output_dir), blocked_runs(job.output_dir))
    if unhealthy_runs and not distributed.launched_by_torchrun():
        sys.exit(UNHEALTHY_EXIT)


def health_summary(results: list[Result], blocked: dict[str, dict[str, Any]]) -> bool:
    """Print the unhealthy and blocked runs on stderr; True when there is any."""
    bad = unhealthy(results)
    stuck = [r for r in results if r.record is None and r.run.id in blocked]
    if not bad and not stuck:
        return False
    say("unhealthy:", "red", f"{len(bad)} run(s) diverged or did not learn; {len(stuck)} run(s) copying from them "
        "were not trained. Their numbers are not results.")
    _print_unhealthy(results, blocked)
    return True


def _print_unhealthy(results: list[Result], blocked: dict[str, dict[str, Any]]) -> None:
    """One line per finished run that is not healthy, then per run not trained because its source is not."""
    for r in unhealthy(results):
        reason = r.record.health_reason if r.record else None
        err_console.print(f"  {r.health:>11} {_label(r.run)}: {reason}", highlight=False)
    for r in results:
        if r.record is None and r.run.id in blocked:
            b = blocked[r.run.id]
            err_console.print(f"  {'blocked':>11} {_label(r.run)}: by {b['blocked_by']} ({b.get('health')})",
                              highlight=False)


def _label(run: Run) -> str:
    return f"{run.id} {run.condition} n={run.n} {run.pair} seed={run.seed}"


def _torchrun(m: Any, manifest: str, overrides: tuple[str, ...], as_json: bool, nproc: int) -> int:
    """Start this command again under torchrun with `nproc` workers; its exit status."""
    check_torchrun(m)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "benchbridge", "run", manifest, *overrides, *(["--json"] if as_json else [])]
    err_console.print(f"launching {nproc} processes with torchrun", highlight=False)
    return subprocess.run(cmd, check=False).returncode


def _results_json(results: list[Any]) -> list[dict[str, Any]]:
    return [{**r.run.to_dict(), "metrics": r.record.model_dump(mode="json", exclude={"curve"}) if r.record else {}}
            for r in results]


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the states as JSON to stdout.")
def status(run_dir: str, as_json: bool) -> None:
    """Say which runs of RUN_DIR are done, blocked, running, interrupted, missing or broken."""
    states = run_states(run_dir)
    if as_json:
        print_json({k: [r.id for r in v] for k, v in states.items()})
        return
    sick = states.pop("unhealthy")
    total = sum(len(v) for v in states.values())
    err_console.print(", ".join(f"{k}: {len(v)}" + (f" ({len(sick)} unhealthy)" if k == "done" and sick else "")
                                for k, v in states.items()) + f" (of {total})")
    results = load_results(run_dir)
    _print_unhealthy(results, blocked_runs(run_dir))
    for message in broken(results):
        say("broken:", "red", message)
    for state in ("running", "interrupted", "missing"):
        for r in states[state]:
            err_console.print(f"  {state:>11} {_label(r)}", highlight=False)
    holder = lock_holder(Path(run_dir))
    if holder:
        err_console.print(f"a benchbridge run is using this folder now ({holder}).", highlight=False)
    elif states["interrupted"]:
        err_console.print("interrupted: their process is gone (killed or crashed); `benchbridge run` with the same "
                          "manifest resumes them.", highlight=False)


COMMANDS = [run, status]
