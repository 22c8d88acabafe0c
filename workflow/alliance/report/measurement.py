"""The report's Measurement section: psychometrics of the alliance instrument and ruptures, formatted.

Everything comes from results/psychometrics/*.csv and results/features/rupture_shares.csv; nothing is
estimated here. The words are in the active language (`alliance.i18n`), the analyses' reasons too
(`words.reason_words`), and their notes from the notes' messages; a note without one (a library's words,
or a table of an older run) is written in English, marked as such (`format.foreign`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from alliance.errors import NOT_ESTIMABLE, REPORTED
from alliance.features.ruptures import MIN_PRIOR_DIFFERENCES
from alliance.i18n import N_, _, ngettext, pgettext
from alliance.ingest.privacy import SECONDARY, is_reportable, suppress_counts
from alliance.instruments import load_instrument
from alliance.measurement.tables import total_alpha
from alliance.report.cohort import group_label
from alliance.report.figures import RELIABILITY_GUIDES
from alliance.report.format import (
    bound_digits,
    format_ci,
    format_count,
    format_number,
    format_percent,
    format_unit,
)
from alliance.report.methods import instrument_name, subscale_label
from alliance.report.words import (
    GROUPING_WORDS,
    INVARIANCE_WORDS,
    WITHHELD,
    fill,
    join,
    more_than,
    reason_text,
    reason_words,
    series,
    share_cell,
    status_word,
)

MODEL_NAMES = {"one_factor": N_("One factor"), "correlated_factors": N_("Correlated factors")}
PATTERN_NAMES = {"no_rupture": N_("No rupture"), "rupture_without_repair": N_("Rupture without repair"),
                 "rupture_with_repair": N_("Rupture with repair"), "not_classifiable": N_("Not classifiable")}
# Conventional guides for good fit (Hu & Bentler, 1999): column, label, bound, higher is better.
FIT_GUIDES = (("cfi", "CFI", 0.95, True), ("rmsea", "RMSEA", 0.06, False), ("srmr", "SRMR", 0.08, False))
NOT_POSSIBLE = N_("Item-level psychometrics (reliability, item statistics, factor structure and answer "
                  "distributions) were not possible: the alliance data are pre-scored (scores, not item "
                  "answers), or too few questionnaires were answered by item.")


ROLES = {"alliance": N_("alliance"), "therapist_alliance": N_("therapist-rated alliance"),
         "satisfaction": N_("satisfaction")}


def _instrument(row: pd.Series) -> str:
    role = _(ROLES[row["role"]]) if row["role"] in ROLES else row["role"]
    return f"{role} ({row['instrument']})"


def _count(n: float, min_cell_size: int) -> str:
    """A count of patients (or of their questionnaires), "<k" when below the minimum cell size."""
    return f"<{min_cell_size}" if _withheld(n, min_cell_size) else format_count(n)


def _with_ci(value: float, low: float, high: float) -> str:
    """A value bounded by 1 with its CI; the CI left out when missing."""
    ci = f" {format_ci(low, high, unit=True)}" if np.isfinite(low) and np.isfinite(high) else ""
    return format_unit(value) + ci if np.isfinite(value) else "NA"


def _withheld(n: float, min_cell_size: int) -> bool:
    """Whether the statistics of a row resting on `n` patients are withheld with its count: a share or a
    mean of fewer than the minimum cell size gives the count (and the answers) away ("11.1%" of 9)."""
    return n != 0 and not is_reportable(n, min_cell_size)  # a missing n too


def reliability_rows(reliability: pd.DataFrame, min_cell_size: int) -> list[dict]:
    """Alpha [95% CI], omega, floor, ceiling and skew per instrument and scale, formatted (empty where the
    row rests on fewer than `min_cell_size` questionnaires)."""
    rows = []
    for _index, row in reliability.iterrows():
        cells = {"instrument": _instrument(row), "scale": subscale_label(row["scale"]),
                 "n": _count(row["n"], min_cell_size), "n_items": format_count(row["n_items"])}
        statistics = {
            "alpha": _with_ci(row["alpha"], row["alpha_ci_low"], row["alpha_ci_high"]),
            "omega": format_unit(row["omega"]),
            "floor": share_cell(row["floor_share"], row["n"], min_cell_size),
            "ceiling": share_cell(row["ceiling_share"], row["n"], min_cell_size),
            "skew": format_number(row["skew"])}
        if _withheld(row["n"], min_cell_size):
            statistics = dict.fromkeys(statistics, "")
        rows.append(cells | statistics)
    return rows


def item_rows(items: pd.DataFrame, reverse: set[str], min_cell_size: int) -> list[dict]:
    """Mean, SD, ceiling and corrected item-rest correlations per item; reverse-keyed items marked (R);
    empty where the item rests on fewer than `min_cell_size` questionnaires."""
    rows = []
    for _index, row in items.iterrows():
        cells = {"instrument": _instrument(row),
                 "item": f"{row['item']} (R)" if row["item"] in reverse else row["item"],
                 "subscale": subscale_label(row["subscale"]), "n": _count(row["n"], min_cell_size)}
        statistics = {"mean": format_number(row["mean"]), "sd": format_number(row["sd"]),
                      "ceiling": share_cell(row["ceiling_share"], row["n"], min_cell_size),
                      "r_subscale": format_unit(row["corrected_r_subscale"]),
                      "r_total": format_unit(row["corrected_r_total"])}
        if _withheld(row["n"], min_cell_size):
            statistics = dict.fromkeys(statistics, "")
        rows.append(cells | statistics)
    return rows


def fit_rows(fit: pd.DataFrame, min_cell_size: int) -> list[dict]:
    """Fit statistics per CFA model, with the conventional guides each model meets."""
    rows = []
    for _index, row in fit.iterrows():
        met = [label for column, label, bound, higher in FIT_GUIDES
               if (row[column] >= bound if higher else row[column] <= bound)]
        rows.append({
            "model": _(MODEL_NAMES[row["model"]]) if row["model"] in MODEL_NAMES else row["model"],
            "n": _count(row["n"], min_cell_size),
            "chi2": format_number(row["chi2"]), "df": format_count(row["dof"]),
            "cfi": format_unit(row["cfi"], 3), "tli": format_unit(row["tli"], 3),
            "rmsea": format_unit(row["rmsea"], 3), "srmr": format_unit(row["srmr"], 3),
            "status": status_word(row["status"]),
            # Translators: none of the fit guides (CFI, RMSEA, SRMR) is met
            "meets": ", ".join(met) or pgettext("fit guides", "none"),
        })
    return rows


# What each highest level allows across the groups (ANALYSIS_PLAN.md, section 3).
LEVEL_MEANING = {
    "scalar": N_("alliance means and the alliance's slopes can be compared across the {groups}"),
    "metric": N_("the alliance's slopes can be compared across the {groups}, its means cannot (an item is "
                 "answered at a different level in some group)"),
    "configural": N_("neither the alliance's slopes nor its means can be compared across the {groups}: the "
                     "items do not measure it with the same weights in every group"),
}


def highest_level(table: pd.DataFrame | None, grouping: str = "discipline") -> str | None:
    """The highest level of measurement invariance across the groups of `grouping` in `invariance.csv`
    (None where the models were not fitted or the run has no such table)."""
    if table is None or table.empty:
        return None
    rows = table[(table["grouping"] == grouping) & table["status"].isin(REPORTED)]
    return str(rows["highest_level"].iloc[0]) if len(rows) else None


def means_caveat(level: str | None) -> str:
    """What measurement invariance across disciplines (its highest level; None where not tested) says of
    a comparison of alliance means across disciplines (ANALYSIS_PLAN.md, section 3)."""
    if level is None:
        return _("Measurement invariance across disciplines could not be tested: whether the disciplines' "
                 "means can be compared is not known.")
    if level == "scalar":
        return _("Scalar invariance across disciplines holds: the disciplines' means can be compared.")
    return _("Scalar invariance across disciplines does not hold ({level} only): the disciplines' means are "
             "not comparable.").format(level=_(INVARIANCE_WORDS[level]))


def invariance_view(table: pd.DataFrame | None, min_cell_size: int,
                    complete: int | None = None) -> list[dict]:
    """Per grouping of `invariance.csv`: its title, the verdict in words (the highest level that holds and
    what it allows), the rows per level (robust fit and its change) and the groups left out; or the
    reason the models could not be fitted. Empty for a run without the table. `complete`: the patients
    whose questionnaire is complete on the alliance items (the reliability table's total), beside which
    the models' patients would tell how many the groups left out hold: "more than" complete - k where
    those are 1 to k - 1 (a reviewer's 173 - 168 = 5 of one site)."""
    if table is None or table.empty:
        return []
    views = []
    for grouping, rows in table.groupby("grouping", sort=False):
        groups = _(GROUPING_WORDS.get(grouping, grouping))
        first = rows.iloc[0]
        view = {"title": fill(_("Measurement invariance across {groups}"), groups=groups), "rows": [],
                "left_out": ""}
        if first["status"] not in REPORTED:
            view["verdict"] = fill(_("Not estimable: {reason}"), reason=reason_text(first))
            views.append(view)
            continue
        highest = first["highest_level"]
        named = first["left_out"]
        left_out = named.split(";") if isinstance(named, str) and named else []
        n = _count(first["n"], min_cell_size)
        if left_out and complete is not None and 0 < complete - first["n"] < min_cell_size:
            n = more_than(complete, min_cell_size)
        view["verdict"] = fill(_("Highest level that holds: {level} invariance ({n_groups} groups, {n} "
                                 "patients): {meaning}."), level=_(INVARIANCE_WORDS[highest]),
                               n_groups=format_count(first["n_groups"]), n=n,
                               meaning=_(LEVEL_MEANING[highest]).format(groups=groups))
        if left_out:
            view["left_out"] = fill(_("Left out (fewer patients than the minimum), so not tested: {names}."),
                                    names=", ".join(group_label(grouping, name.strip()) for name in left_out))
        for _index, row in rows.iterrows():
            change = pd.notna(row["delta_cfi"])
            view["rows"].append({
                "level": _(INVARIANCE_WORDS[row["level"]]),
                "chi2": format_number(row["chisq_scaled"]), "df": format_count(row["df"]),
                "cfi": format_unit(row["cfi"], 3), "rmsea": format_unit(row["rmsea"], 3),
                "delta_cfi": format_unit(row["delta_cfi"], 3) if change else "",
                "delta_rmsea": format_unit(row["delta_rmsea"], 3) if change else "",
                "retained": (pgettext("retained", "yes") if row["retained"] else pgettext("retained", "no"))
                if change else "",
            })
        views.append(view)
    return views


def _complete_alliance(reliability: pd.DataFrame) -> int | None:
    """The patients whose first questionnaire answers every alliance item (the reliability table's total
    of the patient-rated alliance), None without that row."""
    rows = reliability[(reliability["role"] == "alliance") & (reliability["scale"] == "total")]
    return int(rows["n"].iloc[0]) if len(rows) and pd.notna(rows["n"].iloc[0]) else None


def icc_text(icc: pd.DataFrame, min_cell_size: int) -> str:
    """The therapist ICC of patients' mean alliance in words, beside the outcome benchmark; when it is not
    estimable (or was estimated at the boundary, or without a CI) the table's reason says why; withheld,
    with its therapists, when it rests on fewer than `min_cell_size` patients."""
    row = icc.iloc[0]
    reason = reason_words(row)
    if not np.isfinite(row["icc"]):
        if row.get("status") == NOT_ESTIMABLE:
            message = (_("The therapist ICC of the patients' mean alliance is not estimable: {reason}.")
                       if reason else _("The therapist ICC of the patients' mean alliance is not estimable."))
        else:
            message = (
                _("The therapist ICC of the patients' mean alliance could not be estimated: {reason}.")
                if reason else _("The therapist ICC of the patients' mean alliance could not be estimated."))
        return fill(message, reason=reason)
    if _withheld(row["n_patients"], min_cell_size):  # a statistic on fewer patients than k (section 8)
        return fill(_("The therapist ICC of the patients' mean alliance is withheld: it rests on fewer than "
                      "{k} patients (the minimum cell size)."), k=format_count(min_cell_size))
    numbers = {"icc": format_unit(row["icc"]), "patients": _count(row["n_patients"], min_cell_size),
               "therapists": format_count(row["n_therapists"]), "share": format_percent(row["icc"]),
               "typical": format_percent(0.05, 0)}
    if np.isfinite(row["ci_low"]):
        low_digits, high_digits = bound_digits(row["ci_low"], row["ci_high"])  # never ".00" above 0
        text = _(
            "Therapist ICC of the patients' mean alliance: {icc} (95% CI {low} to {high}; parametric "
            "bootstrap, {draws} draws; {patients} patients of {therapists} therapists). This is the share of "
            "alliance variance that lies between therapists, {share} here; it is not the therapist share of "
            "outcome variance (about {typical} on average; Baldwin & Imel, 2013). Therapists' differences in "
            "alliance, not patients', predict outcome (Baldwin, Wampold & Imel, 2007).").format(
            low=format_unit(row["ci_low"], low_digits), high=format_unit(row["ci_high"], high_digits),
            draws=format_count(row["n_boot"]), **numbers)
    else:
        text = _(
            "Therapist ICC of the patients' mean alliance: {icc} ({patients} patients of {therapists} "
            "therapists). This is the share of alliance variance that lies between therapists, {share} here; "
            "it is not the therapist share of outcome variance (about {typical} on average; Baldwin & Imel, "
            "2013). Therapists' differences in alliance, not patients', predict outcome (Baldwin, Wampold & "
            "Imel, 2007).").format(
            **numbers)
    return join([text, reason_text(row)])


def sessions_text(by_sessions: pd.DataFrame) -> str:
    """Single-session reliability and the sessions a patient's mean needs to reach each guide; the table's
    reason when it is not estimable or was estimated at the boundary."""
    single = by_sessions["session_icc"].iloc[0] if len(by_sessions) else np.nan
    reason = reason_words(by_sessions.iloc[0]) if len(by_sessions) else ""
    if not np.isfinite(single):
        message = (
            _("The single-session reliability of the alliance total could not be estimated: {reason}.")
            if reason else _("The single-session reliability of the alliance total could not be estimated."))
        return fill(message, reason=reason)
    reached = []
    for level in RELIABILITY_GUIDES:
        enough = by_sessions.loc[by_sessions["reliability"] >= level, "sessions"]
        n = int(enough.min()) if len(enough) else len(by_sessions)
        reached.append(
            ngettext("{level} with {n} session", "{level} with {n} sessions", n)
            .format(level=format_unit(level), n=format_count(n)) if len(enough) else
            ngettext("{level} not within {n} session", "{level} not within {n} sessions", n)
            .format(level=format_unit(level), n=format_count(n)))
    text = _(
        "A single session's alliance total has a reliability of {reliability} as a measure of the patient's "
        "alliance level (the patient ICC of scored session totals, every scored session). By the "
        "Spearman-Brown formula, the reliability of a patient's mean reaches {reached}.").format(
        reliability=format_unit(single), reached=series(reached))
    return join([text, reason_text(by_sessions.iloc[0])])


def agreement_rows(agreement: pd.DataFrame, min_cell_size: int) -> list[tuple[str, str]]:
    """Patient-therapist agreement (label, value): pairs and patients, the patient-level r, the within-patient
    repeated-measures r, the mean difference and the repeated-measures limits of agreement; a part that is
    not estimable says why, one with a reason gives it. Empty without therapist ratings."""
    if agreement.empty:
        return []
    row = agreement.iloc[0]

    def shown(part: str, value: str) -> str:
        reason = reason_words(row, f"{part}_reason")
        if row[f"{part}_status"] not in REPORTED:
            return fill(_("not estimable: {reason}"), reason=reason)
        return fill("{value}; {reason}", value=value, reason=reason) if reason else value

    rm = (_("{r}, df = {df} ({n} patients with 2+ sessions rated by both)").format(
              r=_with_ci(row["rm_r"], row["rm_ci_low"], row["rm_ci_high"]), df=format_count(row["rm_df"]),
              n=_count(row["rm_n_patients"], min_cell_size))
          if np.isfinite(row["rm_df"]) else "")
    limits = {"limits": format_ci(row["loa_low"], row["loa_high"]), "sd": format_number(row["sd_difference"])}
    loa = (_("{limits} (SD of a difference {sd}; between patients {between}, within {within})").format(
               between=format_number(row["sd_between"]), within=format_number(row["sd_within"]), **limits)
           if np.isfinite(row["sd_between"]) else _("{limits} (SD of a difference {sd})").format(**limits))
    return [
        (_("Sessions rated by both (patients)"),
         f"{format_count(row['n_pairs'])} ({_count(row['n_patients'], min_cell_size)})"),
        (_("Patient level: r of patients' mean ratings [95% CI]"), shown("patient_level", _with_ci(
            row["patient_level_r"], row["patient_level_ci_low"], row["patient_level_ci_high"]))),
        (_("Within patients: repeated-measures r [95% CI] (Bakdash & Marusich, 2017)"), shown("rm", rm)),
        (_("Mean difference, patient minus therapist"), format_number(row["mean_difference"])),
        (_("95% limits of agreement for repeated measures (Bland & Altman, 2007)"), shown("loa", loa)),
    ]


def criterion_text(settings: dict, reliability: pd.DataFrame) -> str:
    """The configured rupture criterion, its settings and the repair rule in words."""
    c = format_number(settings["c"], 1)
    if settings["criterion"] == "prior_diff":
        rule = _(
            "A rupture is a drop of the alliance total from one scored session to the next of at least c = "
            "{c} times the larger of two SDs of session-to-session differences: the patient's own earlier "
            "differences (from {k} of them) and the other patients' differences around their mean (criterion "
            "\"prior_diff\", after Gumz et al., 2012); only earlier sessions enter, so a session's rupture "
            "never depends on later ones.").format(c=c, k=MIN_PRIOR_DIFFERENCES)
    elif settings["criterion"] == "sd":
        rule = _(
            "A rupture is a drop of the alliance total from one scored session to the next of at least c = "
            "{c} SDs of the patient's own scored totals (criterion \"sd\"; Stiles et al., 2004, used c = 2); "
            "patients with fewer than 3 scored sessions are not classifiable.").format(c=c)
    else:
        configured = settings.get("reliability")
        value, source = ((configured, _("configured")) if configured is not None
                         else (total_alpha(reliability), _("the alpha of the total in this sample")))
        rule = _(
            "A rupture is a drop of the alliance total from one scored session to the next of at least {z} "
            "SE of the difference (criterion \"reliable_change\", Jacobson & Truax, 1991), SE = SD x "
            "sqrt(2(1 - r)) with the SD of all scored totals and r = {r} ({source}).").format(
            z=format_number(1.96), r=format_unit(value), source=source)
    repair = _("It is repaired when the total returns to at least its pre-rupture value within the next {n} "
               "scored sessions.").format(n=settings["repair_window"])
    return f"{rule} {repair}"


def rupture_rows(shares: pd.DataFrame, min_cell_size: int) -> tuple[list[dict], bool]:
    """Patients per pattern (suppressed), share of classifiable patients and Larsson et al. (2018).

    Shares are shown only when no count is suppressed: they would reveal a hidden count. Returns the rows
    and whether the shares are shown.
    """
    counts = shares.set_index("pattern")["n"]
    shown = suppress_counts(counts, min_cell_size, total_shown=True)
    share_shown = bool((shown == counts.astype(str)).all())
    rows = [{"pattern": _(PATTERN_NAMES[row["pattern"]]) if row["pattern"] in PATTERN_NAMES
             else row["pattern"],
             "n": _("suppressed") if shown[row["pattern"]] == SECONDARY else shown[row["pattern"]],
             "share": "" if not np.isfinite(row["share"]) else
             format_percent(row["share"]) if share_shown else _("not shown"),
             "larsson": format_percent(row["larsson_2018"]) if np.isfinite(row["larsson_2018"]) else ""}
            for _index, row in shares.iterrows()]
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
    # Each note in the report's language from its message.
    why = notes.index[notes["topic"] == "alliance"] if "topic" in notes else []
    note = why[0] if len(why) and not item_level else None
    shown_notes = [reason_words(row, "note") for index, row in notes.iterrows() if index != note]
    not_possible = reason_words(notes.loc[note], "note") if note is not None else _(NOT_POSSIBLE)
    rows, share_shown = rupture_rows(rupture_shares, min_cell_size)
    figures = ((["item_distributions"] if distributions else [])
               + (["factor_loadings", "invariance"] if item_level else [])
               + ["reliability_by_sessions"] + (["rupture_trajectories"] if synthetic else []))
    return {
        "item_level": item_level,
        "not_possible": not_possible,
        "no_distributions": None if distributions or not item_level else _(
            "Answer distributions per item are drawn for whole-number answers only; the {instrument} has "
            "decimal answers.").format(instrument=instrument_name(instrument)),
        "reliability": (shown := reliability_rows(reliability, min_cell_size)),
        "item_rows": (items := item_rows(psychometrics["item_statistics"], reverse, min_cell_size)),
        "shares_withheld": any(row.get(cell) == _(WITHHELD) for row in [*shown, *items]
                               for cell in ("floor", "ceiling")),
        "reverse": bool(reverse) and item_level,
        "fit": fit_rows(psychometrics["cfa_fit"], min_cell_size) if item_level else [],
        "icc": icc_text(psychometrics["therapist_icc"], min_cell_size),
        "sessions": sessions_text(psychometrics["reliability_by_sessions"]),
        "agreement": agreement_rows(psychometrics["agreement"], min_cell_size),
        "invariance": invariance_view(psychometrics.get("invariance"), min_cell_size,
                                      complete=_complete_alliance(reliability)),
        "criterion": criterion_text(config["ruptures"], reliability),
        "patterns": rows,
        "patients": format_count(rupture_shares["n"].sum()),
        "share_shown": share_shown,
        "notes": shown_notes,
        "figures": figures,
        "trajectories_hidden": not synthetic,
    }
