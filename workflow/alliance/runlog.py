"""Logging for script jobs: records to the rule's log file, user errors also to the console."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from alliance.contract import ValidationError
from alliance.instruments import InstrumentError
from alliance.io import ConfigError, InputError

USER_ERRORS = (ValidationError, InputError, InstrumentError, ConfigError)


def start_log(path: str) -> logging.Logger:
    """Send log records and Python warnings of this job to `path`."""
    logging.basicConfig(
        filename=path, filemode="w", level=logging.INFO, force=True,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)
    return logging.getLogger("alliance")


@contextmanager
def user_errors_to_console(log: logging.Logger) -> Iterator[None]:
    """Turn a problem with the user's data or config into a clear message and exit status 1."""
    try:
        yield
    except USER_ERRORS as err:
        log.error("%s", err)
        print(f"\n{err}\n", file=sys.stderr)
        sys.exit(1)
