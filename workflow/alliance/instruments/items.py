"""From item answers to scores by an instrument's definition: reverse keys, proration, pre-scored columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alliance.instruments import Instrument

ALLIANCE_PREFIX = "alliance_"  # score columns of the alliance instrument: alliance_<subscale>, alliance_total
THERAPIST_PREFIX = "therapist_alliance_"  # and of a therapist-rated one


def score_items(items: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Score item responses row by row.

    Reverse-keyed items become (min + max) - x. A subscale is the mean (or sum) of its items; when at
    most `max_missing_per_subscale` items are missing it is prorated from the answered ones (a sum as
    their mean times the number of items), otherwise it is missing. The total combines the subscales
    and is missing when any subscale is. Returns one column per subscale, `total`, `n_answered`,
    `prorated` (True when any subscale was prorated) and, for an instrument with a cut-off, `concern`.
    """
    values = items[instrument.item_columns].to_numpy(dtype=float, na_value=np.nan)
    for item in instrument.reverse_keyed:
        values[:, item - 1] = instrument.minimum + instrument.maximum - values[:, item - 1]
    answered = ~np.isnan(values)
    out: dict[str, np.ndarray] = {}
    prorated = np.zeros(len(items), dtype=bool)
    for name, members in instrument.subscales.items():
        cols = [i - 1 for i in members]
        n_answered = answered[:, cols].sum(axis=1)
        ok = (len(cols) - n_answered <= instrument.max_missing_per_subscale) & (n_answered > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nansum(values[:, cols], axis=1) / n_answered
        mean[~ok] = np.nan
        out[name] = mean * len(cols) if instrument.score == "sum" else mean
        prorated |= ok & (n_answered < len(cols))
    stacked = np.column_stack(list(out.values()))
    total = stacked.mean(axis=1) if instrument.total == "mean_of_subscales" else stacked.sum(axis=1)
    result = pd.DataFrame(out, index=items.index)
    result["total"] = total
    result["n_answered"] = answered.sum(axis=1)
    result["prorated"] = prorated & ~np.isnan(total)
    if instrument.cutoff is not None:
        result["concern"] = pd.array(instrument.cutoff.flags(total), dtype="boolean")
        result.loc[np.isnan(total), "concern"] = pd.NA
    return result


def prescored_columns(instrument: Instrument, prefix: str = ALLIANCE_PREFIX) -> list[str]:
    """Columns of pre-scored data: `<prefix><subscale>` for each subscale, then `<prefix>total`."""
    return [f"{prefix}{name}" for name in instrument.subscales] + [f"{prefix}total"]


def score_rater(
    sessions: pd.DataFrame, instrument: Instrument, prefix: str, *, attended: pd.Series
) -> pd.DataFrame:
    """One rater's scores per session, columns `<prefix><subscale>`, `<prefix>total`, ... as `score_items`
    gives them, plus `<prefix>source`: the items where any was answered, else the pre-scored columns
    (`prescored_columns`) where the data have them; missed sessions (`attended` False) are not scored."""
    scored = score_items(sessions, instrument)
    values = [*instrument.subscales, "total"]
    prescored = [c for c in prescored_columns(instrument, prefix) if c in sessions.columns]
    use_prescored = (scored["n_answered"] == 0) & (
        sessions[prescored].notna().any(axis=1) if prescored else False)
    for column in prescored:
        name = column.removeprefix(prefix)
        scored[name] = scored[name].where(~use_prescored, sessions[column])
    if instrument.cutoff is not None:
        scored["concern"] = scored["concern"].where(
            ~use_prescored, pd.array(instrument.cutoff.flags(scored["total"].to_numpy()), dtype="boolean"))
    source = pd.Series(pd.NA, index=sessions.index, dtype="string")
    source[scored["total"].notna()] = "items"
    source[use_prescored & scored["total"].notna()] = "pre-scored"
    scored["source"] = source
    missed = ~attended.to_numpy(dtype=bool)
    scored.loc[missed, values] = float("nan")
    scored.loc[missed, "prorated"] = False
    scored.loc[missed, "source"] = pd.NA
    if "concern" in scored:
        scored.loc[missed, "concern"] = pd.NA
    return scored.add_prefix(prefix)
