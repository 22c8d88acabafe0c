"""The report's Measurement section: psychometrics of the alliance instrument and ruptures, formatted.

Everything comes from results/psychometrics/*.csv and results/features/rupture_shares.csv; nothing is
estimated here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from alliance.errors import NOT_ESTIMABLE, REPORTED
from alliance.features.ruptures import MIN_PRIOR_DIFFERENCES
from alliance.ingest.privacy import is_reportable, suppress_counts
from alliance.instruments import load_instrument
from alliance.measurement.tables import total_alpha
from alliance.report.figures import RELIABILITY_GUIDES
from alliance.report.format import format_ci, format_count, format_number, format_percent, format_unit

MODEL_NAMES = {"one_factor": "One factor", "correlated_factors": "Correlated factors"}
PATTERN_NAMES = {"no_rupture": "No rupture", "rupture_without_repair": "Rupture without repair",
                 "rupture_with_repair": "Rupture with repair", "not_classifiable": "Not classifiable"}
# Conventional guides for good fit (Hu & Bentler 1999): column, label, bound, higher is better.
FIT_GUIDES = (("cfi", "CFI", 0.95, True), ("rmsea", "RMSEA", 0.06, False), ("srmr", "SRMR", 0.08, False))
NOT_POSSIBLE = ("Item-level psychometrics (reliability, item statistics, factor structure and answer "
                "distributions) were not possible: the alliance data are pre-scored (scores, not item "
                "answers), or too few questionnaires were answered by item.")


ROLES = {"alliance": "alliance", "therapist_alliance": "therapist-rated alliance",
         "satisfaction": "satisfaction"}


def _instrument(row: pd.Series) -> str:
    return f"{ROLES.get(row['role'], row['role'])} ({row['instrument']})"


def _count(n: float, min_cell_size: int) -> str:
    """A count of patients (or of their questionnaires), "<k" when below the minimum cell size."""
    return format_count(n) if n == 0 or is_reportable(n, min_cell_size) else f"<{min_cell_size}"


def _reason(row: pd.Series) -> str:
    """The row's `reason` in words ("" when it has none; tables read from CSV hold NaN then)."""
    reason = row.get("reason")
    return reason if isinstance(reason, str) else ""


def _sentence(text: str) -> str:
    """`text` as a further sentence (" Text."), or "" without text."""
    return f" {text[0].upper()}{text[1:]}." if text else ""


def _with_ci(value: float, low: float, high: float) -> str:
    """A value bounded by 1 with its CI; the CI left out when missing."""
    ci = f" {format_ci(low, high, unit=True)}" if np.isfinite(low) and np.isfinite(high) else ""
    return format_unit(value) + ci if np.isfinite(value) else "NA"


def reliability_rows(reliability: pd.DataFrame, min_cell_size: int) -> list[dict]:
    """Alpha [95% CI], omega, floor, ceiling and skew per instrument and scale, formatted."""
    return [{
        "instrument": _instrument(row), "scale": row["scale"], "n": _count(row["n"], min_cell_size),
        "n_items": format_count(row["n_items"]),
        "alpha": _with_ci(row["alpha"], row["alpha_ci_low"], row["alpha_ci_high"]),
        "omega": format_unit(row["omega"]) + (
            " (not converged)" if np.isfinite(row["omega"]) and not row["omega_converged"] else ""),
        "floor": format_percent(row["floor_share"]), "ceiling": format_percent(row["ceiling_share"]),
        "skew": format_number(row["skew"]),
    } for _, row in reliability.iterrows()]


def item_rows(items: pd.DataFrame, reverse: set[str], min_cell_size: int) -> list[dict]:
    """Mean, SD, ceiling and corrected item-rest correlations per item; reverse-keyed items marked (R)."""
    return [{
        "instrument": _instrument(row),
        "item": f"{row['item']} (R)" if row["item"] in reverse else row["item"], "subscale": row["subscale"],
        "n": _count(row["n"], min_cell_size), "mean": format_number(row["mean"]),
        "sd": format_number(row["sd"]),
        "ceiling": format_percent(row["ceiling_share"]),
        "r_subscale": format_unit(row["corrected_r_subscale"]),
        "r_total": format_unit(row["corrected_r_total"]),
    } for _, row in items.iterrows()]


def fit_rows(fit: pd.DataFrame, min_cell_size: int) -> list[dict]:
    """Fit statistics per CFA model, with the conventional guides each model meets."""
    rows = []
    for _, row in fit.iterrows():
        met = [label for column, label, bound, higher in FIT_GUIDES
               if (row[column] >= bound if higher else row[column] <= bound)]
        rows.append({
            "model": MODEL_NAMES.get(row["model"], row["model"]), "n": _count(row["n"], min_cell_size),
            "chi2": format_number(row["chi2"]), "df": format_count(row["dof"]),
            "cfi": format_unit(row["cfi"], 3), "tli": format_unit(row["tli"], 3),
            "rmsea": format_unit(row["rmsea"], 3), "srmr": format_unit(row["srmr"], 3),
            "converged": "yes" if row["converged"] else "no", "meets": ", ".join(met) or "none",
        })
    return rows


def icc_text(icc: pd.DataFrame, min_cell_size: int) -> str:
    """The therapist ICC of patients' mean alliance in words, beside the outcome benchmark; when it is not
    estimable (or was estimated at the boundary, or without a CI) the table's reason says why."""
    row = icc.iloc[0]
    reason = _reason(row)
    if not np.isfinite(row["icc"]):
        verb = "is not estimable" if row.get("status") == NOT_ESTIMABLE else "could not be estimated"
        return f"The therapist ICC of the patients' mean alliance {verb}" + (
            f": {reason}." if reason else ".")
    ci = (f"95% CI {format_unit(row['ci_low'])} to {format_unit(row['ci_high'])}; parametric bootstrap, "
          f"{format_count(row['n_boot'])} draws; " if np.isfinite(row["ci_low"]) else "")
    return (
        f"Therapist ICC of the patients' mean alliance: {format_unit(row['icc'])} "
        f"({ci}{_count(row['n_patients'], min_cell_size)} patients of "
        f"{format_count(row['n_therapists'])} therapists). This is the share of alliance variance that lies "
        f"between therapists, {format_percent(row['icc'])} here; it is not the therapist share of outcome "
        "variance (commonly put at about 5%). Therapists' differences in alliance, not patients', predict "
        "outcome (Baldwin, Wampold & Imel 2007)." + _sentence(reason)
    )


def sessions_text(by_sessions: pd.DataFrame) -> str:
    """Single-session reliability and the sessions a patient's mean needs to reach each guide; the table's
    reason when it is not estimable or was estimated at the boundary."""
    single = by_sessions["session_icc"].iloc[0] if len(by_sessions) else np.nan
    reason = _reason(by_sessions.iloc[0]) if len(by_sessions) else ""
    if not np.isfinite(single):
        return "The single-session reliability of the alliance total could not be estimated" + (
            f": {reason}." if reason else ".")
    reached = []
    for level in RELIABILITY_GUIDES:
        enough = by_sessions.loc[by_sessions["reliability"] >= level, "sessions"]
        reached.append(f"{format_unit(level)} with {format_count(enough.min())} sessions" if len(enough)
                       else f"{format_unit(level)} not within {format_count(len(by_sessions))} sessions")
    return (
        f"A single session's alliance total has a reliability of {format_unit(single)} as a measure of the "
        "patient's alliance level (the patient ICC of scored session totals, every scored session). By the "
        f"Spearman-Brown formula, the reliability of a patient's mean reaches {' and '.join(reached)}."
        + _sentence(reason)
    )


def agreement_rows(agreement: pd.DataFrame, min_cell_size: int) -> list[tuple[str, str]]:
    """Patient-therapist agreement (label, value): pairs and patients, the patient-level r, the within-patient
    repeated-measures r, the mean difference and the repeated-measures limits of agreement; a part that is
    not estimable says why, one with a reason gives it. Empty without therapist ratings."""
    if agreement.empty:
        return []
    row = agreement.iloc[0]

    def shown(part: str, value: str) -> str:
        reason = row[f"{part}_reason"] if isinstance(row[f"{part}_reason"], str) else ""  # NaN from CSV
        if row[f"{part}_status"] not in REPORTED:
            return f"not estimable: {reason}"
        return f"{value}; {reason}" if reason else value

    rm = (f"{_with_ci(row['rm_r'], row['rm_ci_low'], row['rm_ci_high'])}, df = {format_count(row['rm_df'])} "
          f"({_count(row['rm_n_patients'], min_cell_size)} patients with 2+ sessions rated by both)"
          if np.isfinite(row["rm_df"]) else "")
    components = (f"; between patients {format_number(row['sd_between'])}, within "
                  f"{format_number(row['sd_within'])}" if np.isfinite(row["sd_between"]) else "")
    return [
        ("Sessions rated by both (patients)",
         f"{format_count(row['n_pairs'])} ({_count(row['n_patients'], min_cell_size)})"),
        ("Patient level: r of patients' mean ratings [95% CI]", shown("patient_level", _with_ci(
            row["patient_level_r"], row["patient_level_ci_low"], row["patient_level_ci_high"]))),
        ("Within patients: repeated-measures r [95% CI] (Bakdash & Marusich 2017)", shown("rm", rm)),
        ("Mean difference, patient minus therapist", format_number(row["mean_difference"])),
        ("95% limits of agreement for repeated measures (Bland & Altman 2007)", shown("loa", (
            f"{format_ci(row['loa_low'], row['loa_high'])} (SD of a difference "
            f"{format_number(row['sd_difference'])}{components})"))),
    ]


def criterion_text(settings: dict, reliability: pd.DataFrame) -> str:
    """The configured rupture criterion, its settings and the repair rule in words."""
    if settings["criterion"] == "prior_diff":
        rule = (f"a drop of the alliance total from one scored session to the next of at least c = "
                f"{format_number(settings['c'], 1)} times the larger of two SDs of session-to-session "
                "differences: the patient's own earlier differences (from "
                f"{MIN_PRIOR_DIFFERENCES} of them) and the other patients' differences around their mean "
                "(criterion \"prior_diff\", after Gumz et al. 2012); only earlier sessions enter, so a "
                "session's rupture never depends on later ones")
    elif settings["criterion"] == "sd":
        rule = (f"a drop of the alliance total from one scored session to the next of at least c = "
                f"{format_number(settings['c'], 1)} SDs of the patient's own scored totals (criterion "
                "\"sd\"; Stiles et al. 2004 used c = 2); patients with fewer than 3 scored sessions are not "
                "classifiable")
    else:
        configured = settings.get("reliability")
        value, source = ((configured, "configured") if configured is not None
                         else (total_alpha(reliability), "the alpha of the total in this sample"))
        rule = ("a drop of the alliance total from one scored session to the next of at least 1.96 SE of the "
                "difference (criterion \"reliable_change\", Jacobson & Truax 1991), SE = SD x sqrt(2(1 - r)) "
                f"with the SD of all scored totals and r = {format_unit(value)} ({source})")
    return (f"A rupture is {rule}. It is repaired when the total returns to at least its pre-rupture value "
            f"within the next {settings['repair_window']} scored sessions.")


def rupture_rows(shares: pd.DataFrame, min_cell_size: int) -> tuple[list[dict], bool]:
    """Patients per pattern (suppressed), share of classifiable patients and Larsson et al. (2018).

    Shares are shown only when no count is suppressed: they would reveal a hidden count. Returns the rows
    and whether the shares are shown.
    """
    counts = shares.set_index("pattern")["n"]
    shown = suppress_counts(counts, min_cell_size, total_shown=True)
    share_shown = bool((shown == counts.astype(str)).all())
    rows = [{"pattern": PATTERN_NAMES.get(row["pattern"], row["pattern"]), "n": shown[row["pattern"]],
             "share": "" if not np.isfinite(row["share"]) else
             format_percent(row["share"]) if share_shown else "not shown",
             "larsson": format_percent(row["larsson_2018"]) if np.isfinite(row["larsson_2018"]) else ""}
            for _, row in shares.iterrows()]
    return rows, share_shown


def measurement_section(
    psychometrics: Mapping[str, pd.DataFrame], rupture_shares: pd.DataFrame, scoring: dict, *, config: dict,
    min_cell_size: int, synthetic: bool,
) -> dict:
    """Display-ready values of the Measurement section; `synthetic` shows the example trajectories."""
    reliability = psychometrics["reliability"]
    item_level = bool(scoring["alliance"]["item_level"]) and (reliability["role"] == "alliance").any()
    distributions = item_level and not psychometrics["item_distribution"].empty
    instrument = load_instrument(config["instruments"]["alliance"])
    reverse = {instrument.item_column(i) for i in instrument.reverse_keyed}
    notes = psychometrics["notes"]
    # Why item-level analyses of the alliance were not possible: its note (tables of older runs: none).
    why = notes.loc[notes["topic"] == "alliance", "note"] if "topic" in notes else pd.Series(dtype=str)
    not_possible = why.iloc[0] if len(why) and not item_level else NOT_POSSIBLE
    shown_notes = [note for note in notes.get("note", []) if note != not_possible]
    rows, share_shown = rupture_rows(rupture_shares, min_cell_size)
    figures = ((["item_distributions"] if distributions else []) + (["factor_loadings"] if item_level else [])
               + ["reliability_by_sessions"] + (["rupture_trajectories"] if synthetic else []))
    return {
        "item_level": item_level,
        "not_possible": not_possible,
        "no_distributions": None if distributions or not item_level else (
            f"Answer distributions per item are drawn for whole-number answers only; the "
            f"{instrument.name} has decimal answers."),
        "reliability": reliability_rows(reliability, min_cell_size),
        "item_rows": item_rows(psychometrics["item_statistics"], reverse, min_cell_size),
        "reverse": bool(reverse) and item_level,
        "fit": fit_rows(psychometrics["cfa_fit"], min_cell_size) if item_level else [],
        "icc": icc_text(psychometrics["therapist_icc"], min_cell_size),
        "sessions": sessions_text(psychometrics["reliability_by_sessions"]),
        "agreement": agreement_rows(psychometrics["agreement"], min_cell_size),
        "criterion": criterion_text(config["ruptures"], reliability),
        "patterns": rows,
        "patients": format_count(rupture_shares["n"].sum()),
        "share_shown": share_shown,
        "notes": shown_notes,
        "figures": figures,
        "trajectories_hidden": not synthetic,
    }
