"""`python -m benchbridge.builtins.local_executor.worker OUTPUT_DIR RUN_ID`: train one run of a saved job in its own
process."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

from benchbridge.api import Job, UserError, write_text
from benchbridge.builtins.local_executor.pool import USER_ERROR_EXIT, USER_ERROR_FILE


def main(argv: list[str]) -> int:
    output_dir, run_id = Path(argv[0]), argv[1]
    job = Job.load(output_dir)
    [run] = [r for r in job.plan if r.id == run_id]
    try:
        job.run_one(run)
    except UserError as exc:  # the parent raises this sentence, as without workers; the traceback goes to the log
        traceback.print_exc()
        write_text(job.run_dir(run_id) / USER_ERROR_FILE, str(exc))
        return USER_ERROR_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
