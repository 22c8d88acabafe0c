"""Logging for script jobs: records to the rule's log file, user errors also to the console."""

from __future__ import annotations

import atexit
import logging
import resource
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from alliance.errors import USER_ERRORS

PEAK_MEMORY = "peak memory (MB):"


def start_log(path: str) -> logging.Logger:
    """Send log records and Python warnings of this job to `path`; at exit, the job's peak resident
    memory is logged (`PEAK_MEMORY`, from the kernel: Snakemake's `benchmark:` samples and can miss a
    short peak)."""
    logging.basicConfig(
        filename=path, filemode="w", level=logging.INFO, force=True,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)
    log = logging.getLogger("alliance")
    atexit.register(lambda: log.info("%s %.0f", PEAK_MEMORY, peak_memory_mb()))
    return log


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def user_errors_to_console(log: logging.Logger) -> Iterator[None]:
    """Turn a problem with the user's data or config into a clear message and exit status 1."""
    try:
        yield
    except USER_ERRORS as err:
        log.error("%s", err)
        print(f"\n{err}\n", file=sys.stderr)
        sys.exit(1)
