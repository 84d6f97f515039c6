"""Where results live on disk (paths, the output lock, reading JSON back); writes go through `benchbridge.atomic`."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from benchbridge.atomic import (  # noqa: F401 - re-exported: results/ writes through the ground-floor module
    NONFINITE_SUFFIX, atomic_write, dumps, replace_atomically, strict, write_json, write_text, write_weights)
from benchbridge.errors import UserError

MANIFEST_FILE = "manifest.yaml"
PLAN_FILE = "plan.json"
RUNS_DIR = "runs"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
WEIGHTS_FILE = "weights.pt"
INIT_FILE = "init.pt"  # a run's random initialisation, kept for the runs that `benchbridge analyze` compares
LOCK_FILE = ".lock"
LOCK_MODE = 0o644
BLOCKED_FILE = "blocked.json"  # a run not trained because a run it copies from is unhealthy


def run_dir(output_dir: Path, run_id: str) -> Path:
    return output_dir / RUNS_DIR / run_id


def is_finished(output_dir: Path, run_id: str) -> bool:
    """A run is finished when its metrics exist: they are written last, atomically."""
    return (run_dir(output_dir, run_id) / METRICS_FILE).is_file()


def parse_json_bytes(data: bytes, what: str) -> Any:
    """JSON from raw bytes, or a ValueError saying in words why they are not (any bytes: damaged files too)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}): the file "
                         "is damaged") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{what} is not JSON this program reads (nested too deeply)") from None


def read_json(path: Path) -> Any:
    """A JSON file benchbridge wrote; a file it cannot read (damaged, edited) is a UserError naming it."""
    try:
        return parse_json_bytes(path.read_bytes(), path.name)
    except ValueError as exc:
        raise UserError(f"{exc}.", file=str(path), hint="Was it damaged (a disk error, an interrupted copy) or "
                        "edited? Restore it from a copy, or delete it.") from None


# --- the output directory's lock ------------------------------------------------------------------------------

_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)  # a file system without flock


class OutputLock:
    """Refuses a second `run` on an output directory while one is using it.

    The lock is a kernel file lock (flock) on OUTPUT_DIR/.lock, held for the whole run; the file only says who holds
    it ("host pid"). The kernel takes and drops the lock atomically, and drops it when its process ends however it
    ends (kill -9 included), so a dead run's lock is free without anyone deciding it is stale (no read-check-delete
    race), and a pid reused by another process does not look like a live run. NFS (and most cluster file systems)
    pass the lock to the server, so a run on another machine holds it too. On a file system without flock the run
    goes ahead and `lock_holder` falls back to the pid in the file (a process on this machine with that pid).
    """

    def __init__(self, output_dir: Path, tries: int = 3) -> None:
        self.path = Path(output_dir) / LOCK_FILE
        self.tries = tries  # `status` holds the lock for an instant to probe it: try a few times before refusing
        self._fd: int | None = None

    def __enter__(self) -> "OutputLock":
        for attempt in range(2 * self.tries):
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, LOCK_MODE)
            if _flock(fd, fcntl.LOCK_EX) is False:
                os.close(fd)
                if attempt + 1 >= self.tries:
                    raise UserError(f"another benchbridge run ({_read_holder(self.path)}) is using this output "
                                    "directory.", file=str(self.path.parent),
                                    hint="Wait for it to finish, or set a different output_dir.")
                time.sleep(0.05)
                continue
            if _same_file(fd, self.path):
                os.ftruncate(fd, 0)
                os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
                self._fd = fd
                return self
            os.close(fd)  # its holder finished and removed it between our open and our lock: open the new one
        raise UserError("could not take the output directory's lock.", file=str(self.path))

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)  # while still holding it: a process waiting on this file sees it gone
            os.close(self._fd)
            self._fd = None


def _flock(fd: int, kind: int) -> bool | None:
    """Take a flock without waiting: True, False when another process holds it, None when unsupported here."""
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in _NO_FLOCK:
            return None
        raise


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _read_holder(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace").strip() or "unknown process"
    except OSError:
        return "unknown process"


def lock_holder(output_dir: Path) -> str | None:
    """Who holds the output directory's lock ("host pid"), or None when no live process does (no lock file, or
    one left behind by a run that was killed)."""
    path = Path(output_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        free = _flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)  # also releases our probe
    holder = _read_holder(path)
    if free is None:
        return holder if _pid_alive(holder) else None
    return None if free else holder


def _pid_alive(holder: str) -> bool:
    """Without flock: a process with the file's pid runs on this machine (another machine's cannot be checked)."""
    try:
        host, pid = holder.split()
        if host != socket.gethostname():
            return True
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True
    return True
