"""Disclosure control for the report: small-cell suppression of counts.

Rule: a count of 1 to k - 1 patients (k = `privacy.min_cell_size`) is shown as "<k"; zero is shown. When
the table's total is shown and exactly one cell was suppressed, the next smallest non-zero cell is also
suppressed (secondary suppression, shown as `SECONDARY`) so the hidden count cannot be recovered by
subtracting the others from the total; where every other cell is 0, a zero cell is (a shown 0 beside the
total would give the hidden count away just as well). Two or more hidden cells whose sum (the total minus
the others) would tell each of them, all 1 or all k - 1, get one more cell beside them: a zero written "<k"
(fewer than k is still true of it), or else the next smallest count suppressed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SECONDARY = "suppressed"


def is_reportable(n: int, min_cell_size: int) -> bool:
    """Whether a count (or a statistic resting on `n` patients) may be shown: n >= min_cell_size."""
    return n >= min_cell_size


def discloses(count: float | np.ndarray, total: float | np.ndarray, min_cell_size: int | None
              ) -> bool | np.ndarray:
    """Whether `count` of a shown `total`, given by a rate or share of it, is a group of 1 to
    `min_cell_size` - 1, or leaves one: the rate times the total gives that count away (section 8 of
    ANALYSIS_PLAN.md). None or all of them tells only the total. Element-wise on arrays; False where
    `min_cell_size` is None (no disclosure control) or a number is missing."""
    if min_cell_size is None:
        return np.zeros(np.shape(count), dtype=bool) if np.ndim(count) else False
    count, total = np.asarray(count, dtype=float), np.asarray(total, dtype=float)
    k = max(min_cell_size, 1)
    shown = (count > 0) & (count < total) & ((count < k) | (total - count < k))
    return shown if shown.ndim else bool(shown)


def suppress_counts(counts: pd.Series, min_cell_size: int, total_shown: bool = True) -> pd.Series:
    """Counts as display strings with primary and, when `total_shown`, secondary suppression.

    Ties for the secondary cell are broken by position (the first smallest cell is suppressed).
    """
    values = counts.to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(values).any() or (values < 0).any() or (values % 1 != 0).any():
        raise ValueError("counts must be non-negative integers without missing values")
    values = values.astype(int)
    primary = (values > 0) & ~np.array([is_reportable(v, min_cell_size) for v in values], dtype=bool)
    secondary = np.zeros(len(values), dtype=bool)
    candidates = np.flatnonzero((values > 0) & ~primary)
    if not len(candidates):  # only zeros besides the hidden cell: one of them, or the total, tells it
        candidates = np.flatnonzero(~primary)
    if total_shown and primary.sum() == 1 and len(candidates):
        secondary[candidates[np.argmin(values[candidates])]] = True
    if total_shown and primary.sum() >= 2 and values[primary].sum() in (primary.sum(),
                                                                         primary.sum() * (min_cell_size - 1)):
        # each hidden cell told by their sum (a clinic's flow: 60 in the cohort, two exclusions "<10", 58
        # analysed): one more cell beside them, a zero as "<k" or the next smallest count as suppressed
        others = np.flatnonzero(~primary)
        zeros = others[values[others] == 0]
        if len(zeros):
            primary[zeros[0]] = True
        elif len(others):
            secondary[others[np.argmin(values[others])]] = True
    shown = np.where(primary, f"<{min_cell_size}", np.where(secondary, SECONDARY, values.astype(str)))
    return pd.Series(shown, index=counts.index, name=counts.name, dtype=object)


QUASI_IDENTIFIERS = ("site", "discipline", "age_band", "gender")
MISSING_GROUP = "(missing)"


def rare_combinations(
    patients: pd.DataFrame, k: int, quasi_identifiers: tuple[str, ...] = QUASI_IDENTIFIERS,
) -> pd.DataFrame:
    """Combinations of the quasi-identifiers shared by fewer than `k` patients (k-anonymity check).

    Only quasi-identifiers present with at least one value are used; a missing value is a group of its
    own. One row per rare combination with its count `n`, sorted by the combination.
    """
    columns = [c for c in quasi_identifiers if c in patients.columns and patients[c].notna().any()]
    if not columns or patients.empty:
        return pd.DataFrame(columns=[*columns, "n"])
    groups = patients[columns].astype("string").fillna(MISSING_GROUP)
    counts = groups.value_counts(sort=False).rename("n").reset_index()
    rare = counts[counts["n"] < k]
    return rare.sort_values(columns, kind="stable").reset_index(drop=True)


def k_anonymity(
    patients: pd.DataFrame, k: int, quasi_identifiers: tuple[str, ...] = QUASI_IDENTIFIERS,
) -> dict:
    """Summary of the k-anonymity check: columns used, k, combinations, rare ones and patients in them.

    The rare combinations themselves are not returned: listing them would point at the patients.
    """
    columns = [c for c in quasi_identifiers if c in patients.columns and patients[c].notna().any()]
    rare = rare_combinations(patients, k, quasi_identifiers)
    combinations = (int(patients[columns].astype("string").fillna(MISSING_GROUP).value_counts().size)
                    if columns and not patients.empty else 0)
    return {"k": int(k), "columns": columns, "combinations": combinations,
            "rare_combinations": len(rare), "patients_in_rare": int(rare["n"].sum()) if len(rare) else 0}
