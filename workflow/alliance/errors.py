"""The statuses of a model fit and the exception that carries one; imports nothing of the project.

Every model of the analysis plan ends with one status, set where the fit happens (never parsed from
text later): `fitted` (estimates reported), `boundary` (estimates reported, a variance component at its
boundary, e.g. a therapist variance of 0), `not_estimable` (the data cannot identify the model),
`not_converged` (the optimiser did not converge), `separation` (a logistic model whose outcome is
perfectly predicted for some rows: the estimates are not finite) and `refused` (the model was not run
by design for these data, e.g. a check whose primary model was not fitted).
"""

from __future__ import annotations

FITTED = "fitted"
BOUNDARY = "boundary"
NOT_ESTIMABLE = "not_estimable"
NOT_CONVERGED = "not_converged"
SEPARATION = "separation"
REFUSED = "refused"
STATUSES = (FITTED, NOT_ESTIMABLE, NOT_CONVERGED, BOUNDARY, SEPARATION, REFUSED)
REPORTED = (FITTED, BOUNDARY)  # statuses whose estimates are reported


class NotEstimable(Exception):
    """A model the data cannot support: its `status` and a `reason` in words about the data (e.g. "no
    patient dropped out"), for the report and `results/models/status.csv`."""

    def __init__(self, reason: str, status: str = NOT_ESTIMABLE):
        if status not in STATUSES or status in REPORTED:
            raise ValueError(f"'{status}' is not a status of a model without estimates")
        super().__init__(reason)
        self.reason = reason
        self.status = status
