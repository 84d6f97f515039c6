"""`python -m benchbridge.execute.worker OUTPUT_DIR RUN_ID`: train one run of a saved job in its own process."""

from __future__ import annotations

import sys
from pathlib import Path

from benchbridge.execute.job import Job


def main(argv: list[str]) -> int:
    output_dir, run_id = Path(argv[0]), argv[1]
    job = Job.load(output_dir)
    [run] = [r for r in job.plan if r.id == run_id]
    job.run_one(run)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
