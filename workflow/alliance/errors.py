"""Every error class of the project and the statuses of a model fit; imports nothing of the project but
the other foundation module, `alliance.i18n` (a reason is a `Message`).

Errors about the user's input or settings (`USER_ERRORS`) end a job with a clear message and exit
status 1 (`alliance.runtime.runlog.user_errors_to_console`): `InputError` (a file that cannot be read),
`ConfigError` (a setting that cannot work), `ValidationError` (tables that break the data contract, one
`Problem` each) and `InstrumentError` (a questionnaire definition that is missing or inconsistent).
Any other exception is a bug and fails loudly with its traceback.

The one expected failure of a model fit is `NotEstimable`, raised where the fit happens with the
status and the reason in words about the data, a `Message` (its English template and values, so that the
report writes it in its own language); code that runs a planned model catches it and nothing else
(`alliance.models.common.run_planned`).

Every model of the analysis plan ends with one status, set where the fit happens (never parsed from
text later): `fitted` (estimates reported), `boundary` (estimates reported, a variance component at its
boundary, e.g. a therapist variance of 0), `not_estimable` (the data cannot identify the model),
`not_converged` (the optimiser did not converge), `separation` (a logistic model whose outcome is
perfectly predicted for some rows: the estimates are not finite) and `refused` (the model was not run
by design for these data, e.g. a check whose primary model was not fitted). `status_record` makes
one model's record of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from alliance.i18n import N_, Message

FITTED = "fitted"
BOUNDARY = "boundary"
NOT_ESTIMABLE = "not_estimable"
NOT_CONVERGED = "not_converged"
SEPARATION = "separation"
REFUSED = "refused"
STATUSES = (FITTED, NOT_ESTIMABLE, NOT_CONVERGED, BOUNDARY, SEPARATION, REFUSED)
REPORTED = (FITTED, BOUNDARY)  # statuses whose estimates are reported


def status_record(key: str, status: str, reason: Message | None = None, *,
                  flags: Sequence[Message] = ()) -> dict:
    """One planned model's status (`alliance.models.plan.PLANNED` has the key) with its reason: `reason` in
    English ("" without one), `reason_message` the message as data (`Message.to_json`; None without one);
    and its flags, each once, the same way: `flags` their English joined by spaces, `flags_message` that
    as one message (None without flags)."""
    if status not in STATUSES:
        raise ValueError(f"unknown status '{status}'")
    flags = list(dict.fromkeys(flags))
    return {"key": key, "status": status, "reason": "" if reason is None else str(reason),
            "reason_message": None if reason is None else reason.to_json(),
            "flags": " ".join(str(flag) for flag in flags),
            "flags_message": Message.join(flags, " ").to_json() if flags else None}


class NotEstimable(Exception):
    """A model the data cannot support: its `status` and why, a `Message` about the data (e.g.
    `Message("no patient dropped out")`): `message` for the report (written in its language), `reason`
    its English for `results/models/status.csv` and the logs. Plain text is refused (TypeError): every
    reason can be translated."""

    def __init__(self, message: Message, status: str = NOT_ESTIMABLE):
        if not isinstance(message, Message):
            raise TypeError(f"a reason is an alliance.i18n.Message, not {type(message).__name__}")
        if status not in STATUSES or status in REPORTED:
            raise ValueError(f"'{status}' is not a status of a model without estimates")
        self.message = message
        self.reason = str(message)
        self.status = status
        super().__init__(self.reason)


class InputError(Exception):
    """An input file that cannot be read; the message names the file and the fix.

    `file`, `column`, `fix` and `rows` (data rows, from 1 below the header) say where, for the validation
    report; the message never quotes a value that looks identifying. The message and the fix may be
    `Message`s (the message then says what is wrong with `file`, and the text is "<file>: <message>"),
    kept as `message_message` and `fix_message` so that the report writes them in its language; `fix` is
    the English.
    """

    def __init__(self, message: str | Message, *, file: str = "", column: str = "", fix: str | Message = "",
                 rows: list[int] | None = None):
        self.file, self.column, self.fix, self.rows = file, column, str(fix), list(rows or [])
        self.message_message = message if isinstance(message, Message) else None
        self.fix_message = fix if isinstance(fix, Message) else None
        super().__init__(f"{file}: {message}" if self.message_message and file else str(message))


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key and the fix."""


class InstrumentError(ValueError):
    """An instrument definition that is missing or inconsistent."""


ROW_KEY = "patient_id"  # the key column that a problem's listed rows are named by (the data contract's)
WHOLE_FILE = N_("(whole file)")  # the column of a problem with a whole file


@dataclass
class Problem:
    """One validation problem: where it is, what is wrong, and how to fix it; the message and the fix in
    English, and as `Message`s (`message_message`, `fix_message`; None for a problem without) that the
    validation report writes in its language (`told` makes a problem from its messages)."""

    file: str
    column: str
    message: str
    fix: str
    rows: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    n_rows: int = 0
    message_message: Message | None = None
    fix_message: Message | None = None

    @classmethod
    def told(cls, file: str, column: str, message: Message, fix: Message, rows: list[int] | None = None,
             keys: list[str] | None = None, n_rows: int = 0) -> Problem:
        """A problem whose message and fix are `Message`s, their English its `message` and `fix`."""
        return cls(file, column, str(message), str(fix), list(rows or []), list(keys or []), n_rows,
                   message, fix)

    def format(self) -> str:
        """Human-readable lines for the console and the log."""
        text = f"- {self.file}, column '{self.column}': {self.message}"
        if self.n_rows:
            listed = ", ".join(
                f"{row}" + (f" ({ROW_KEY} {key})" if key else "")
                for row, key in zip(self.rows, self.keys, strict=True)
            )
            more = f" and {self.n_rows - len(self.rows)} more" if self.n_rows > len(self.rows) else ""
            text += f"\n    rows {listed}{more} (data rows, counting from 1 below the header)"
        return text + f"\n    fix: {self.fix}"


class ValidationError(Exception):
    """The input tables break the data contract; nothing downstream may be written."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(self.format())

    def format(self) -> str:
        """All problems, one block each."""
        head = (
            f"Input validation failed with {len(self.problems)} "
            f"{'problem' if len(self.problems) == 1 else 'problems'}; nothing was written. "
            "See docs/data-contract.md for the data contract."
        )
        return "\n".join([head, *(p.format() for p in self.problems)])


USER_ERRORS = (InputError, ConfigError, ValidationError, InstrumentError)  # the user's to fix: no traceback
