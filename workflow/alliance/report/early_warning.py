"""The report's section on early warning: does the alliance predict who will drop out, well enough to act
on, at this clinic (ANALYSIS_PLAN.md, section 10)? The measures per decision point, the conventional and
the clinic's own cut-off side by side, the verdict in one plain sentence, and the ROC, calibration and
decision curves at the primary decision point. It reads the tables of results/early_warning/ (never the
patient list)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from alliance.errors import FITTED
from alliance.i18n import N_, _, ngettext
from alliance.report.format import (
    format_ci,
    format_count,
    format_general,
    format_number,
    format_percent,
    format_unit,
    is_number,
)
from alliance.report.style import figure_style, message_figure, new_figure
from alliance.report.words import (
    WITHHELD,
    early_sessions,
    fill,
    join,
    more_than,
    reason_text,
    series,
    status_word,
    variable_name,
)

STRATEGY_WORDS = {
    "alliance": N_("Alliance so far"),
    "alliance_covariates": N_("Alliance and covariates"),
    "conventional_cutoff": N_("Conventional cut-off"),
    "clinic_cutoff": N_("Clinic's own cut-off"),
    "alert_all": N_("Alert everyone"),
    "alert_none": N_("Alert no one"),
}
MODELS = ("alliance", "alliance_covariates")
RULES = ("conventional_cutoff", "clinic_cutoff")
VALIDATION = "therapist_cv"
EMPTY = {"available": False, "rows": [], "cutoffs": [], "verdict": "", "site": "", "not_estimated": [],
         "primary": 0, "threshold": "", "flow": "", "predictors": "", "no_ci": "", "withheld": "",
         "versus_h2": ""}


def _estimate(rows: pd.DataFrame, measure: str, digits: int = 2, *, unit: bool = True,
              percent: bool = False) -> str:
    """A measure with its 95% CI, "" where the row has none; "(no CI)" where fewer than half of the
    bootstrap draws gave the measure (`alliance.prediction.measures.percentile_ci`: NaN, NaN), which
    `NO_CI_NOTE` explains under the tables."""
    if measure not in rows.index:
        return ""
    row = rows.loc[measure]
    write = format_unit if unit else format_number
    if not (is_number(row["ci_low"]) or is_number(row["ci_high"])):
        value = format_percent(row["estimate"], 0) if percent else write(row["estimate"], digits)
        return f"{value} {_(NO_CI)}"
    if percent:
        interval = format_ci(row["ci_low"], row["ci_high"], 0, percent=True)
        return f"{format_percent(row['estimate'], 0)} {interval}"
    return f"{write(row['estimate'], digits)} {format_ci(row['ci_low'], row['ci_high'], digits, unit=unit)}"


NO_CI = N_("(no CI)")
NO_CI_NOTE = N_("(no CI): fewer than half of the therapist bootstrap draws could give this measure (a "
                "calibration slope, for one, cannot be estimated in a draw whose predicted risks separate "
                "the patients who dropped out from those who stayed), so no interval is shown.")


WITHHELD_NOTE = N_("Withheld: at the alert threshold fewer than {k} patients (but some) were in one of "
                   "the four groups of alerted or not and dropped out or not, and these rates of the known "
                   "numbers of patients who dropped out and stayed would give that count away "
                   "(ANALYSIS_PLAN.md, section 8). The decision curve leaves out its thresholds for the same "
                   "reason.")


def _alerts(rows: pd.DataFrame, withheld: bool) -> dict:
    """The measures of a model's or rule's alerts with their 95% CIs, or each "withheld"."""
    if withheld:
        return dict.fromkeys(("sensitivity", "specificity", "ppv", "alerts", "net_benefit"), _(WITHHELD))
    return {"sensitivity": _estimate(rows, "sensitivity", percent=True),
            "specificity": _estimate(rows, "specificity", percent=True),
            "ppv": _estimate(rows, "ppv", percent=True),
            "alerts": _estimate(rows, "alerts_per_100", 0, unit=False),
            "net_benefit": _estimate(rows, "net_benefit", 3, unit=False)}


def withheld_keys(result: Mapping, validation: str = VALIDATION) -> set[tuple[int, str]]:
    """The (decision point, model or rule) whose alerts' measures are withheld (`result["withheld"]`)."""
    return {(int(session), strategy) for kind, session, strategy in result.get("withheld", [])
            if kind == validation}


def measure_rows(measures: pd.DataFrame, withheld: set[tuple[int, str]] | None = None,
                 validation: str = VALIDATION) -> list[dict]:
    """The table of the section: one row per decision point and model or rule, its measures written with
    their 95% CIs, those of its alerts "withheld" for the keys in `withheld` (`withheld_keys`)."""
    withheld = withheld or set()
    order = {name: i for i, name in enumerate((*MODELS, *RULES))}
    chosen = measures[measures["validation"] == validation]
    keys = sorted({(int(session), strategy) for session, strategy
                   in chosen[["session", "strategy"]].itertuples(index=False)} | withheld,
                  key=lambda key: (key[0], order[key[1]]))
    out = []
    for session, strategy in keys:
        rows = chosen[(chosen["session"] == session) & (chosen["strategy"] == strategy)].set_index("measure")
        out.append({"session": format_count(session), "strategy": _(STRATEGY_WORDS[strategy]),
                    "n": format_count(rows["n"].iloc[0]) if len(rows) else "",
                    "auc": _estimate(rows, "auc"), "slope": _estimate(rows, "calibration_slope", unit=False),
                    "intercept": _estimate(rows, "calibration_intercept", unit=False),
                    "brier": _estimate(rows, "brier", 3)} | _alerts(rows, (session, strategy) in withheld))
    return out


def verdict_sentence(result: Mapping) -> str:
    """The plain sentence on whether the alliance alone predicts dropout well enough to act on."""
    verdict = result.get("verdict", {})
    session = format_count(verdict.get("session", result.get("primary_session", 0)))
    if not verdict.get("assessed"):
        return fill(_("Whether the alliance predicts dropout well enough to act on could not be assessed at "
                      "session {session}: the model could not be validated (see the reasons below)."),
                    session=session)
    if verdict["actionable"] and verdict.get("net_benefit_withheld"):
        return fill(_("At session {session} the alliance so far told patients who would drop out from those "
                      "who would not better than chance, and at the alert threshold alerting on it had an "
                      "estimated net benefit above that of alerting everyone or no one (the table below "
                      "withholds it: its groups are too small to show). Whether alerts help depends on what "
                      "is done when they come."), session=session)
    if verdict["actionable"]:
        return fill(_("At session {session} the alliance so far told patients who would drop out from those "
                      "who would not better than chance, and at the alert threshold alerting on it had an "
                      "estimated net benefit above that of alerting everyone or no one (its 95% CI is in the "
                      "table below). Whether alerts help depends on what is done when they come."),
                    session=session)
    return fill(_("At this clinic the alliance alone does not predict dropout well enough to act on: at "
                  "session {session} {why}."), session=session,
                why=_("its AUC's 95% CI includes .5 (no better than chance)")
                if not verdict["auc_ci_excludes_half"] else
                _("alerting on it would have done no more good than alerting everyone or no one"))


def early_warning_section(result: Mapping | None, measures: pd.DataFrame | None,
                          flow: pd.DataFrame | None = None, min_cell_size: int = 10,
                          early_window: int | None = None) -> dict:
    """The section's context: `rows` of measures, the two `cutoffs` side by side at the primary decision
    point, the `verdict`, the internal-external validation by site (`site`), the reasons of what could
    not be fitted (`not_estimated`), and with `early_window` how its patients differ from H2's
    (`versus_h2`); `available` False for a run without it."""
    if result is None or measures is None:
        return dict(EMPTY)
    primary = int(result["primary_session"])
    threshold = result["thresholds"].get(str(primary))
    reasons = {}
    for status in result["statuses"]:
        if status["status"] != FITTED:
            word = status_word(status["status"])
            text = fill(_("{status}: {reason}"), status=word[:1].upper() + word[1:],
                        reason=reason_text(status))
            reasons.setdefault(str(text), text)
    withheld = withheld_keys(result)
    context = {"available": True, "rows": measure_rows(measures, withheld), "primary": format_count(primary),
               "verdict": verdict_sentence(result), "not_estimated": list(reasons.values()),
               "threshold": format_percent(threshold, 1) if threshold is not None else "",
               "cutoffs": cutoff_rows(result, measures, primary), "site": site_sentence(measures, primary),
               "conventional": bool(result.get("conventional_cutoff")),
               "flow": flow_sentence(flow, primary, min_cell_size),
               "predictors": predictors_sentence(result, primary),
               "versus_h2": "" if early_window is None else fill(
                   _(VERSUS_H2), window=format_count(early_window), session=format_count(primary),
                   sessions=early_sessions(early_window))}
    shown = measures[measures["validation"] == VALIDATION]  # the rows and cut-offs of the section's tables
    context["no_ci"] = _(NO_CI_NOTE) if shown[["ci_low", "ci_high"]].isna().all(axis=1).any() else ""
    context["withheld"] = fill(_(WITHHELD_NOTE), k=format_count(min_cell_size)) if withheld else ""
    return context


def cutoff_rows(result: Mapping, measures: pd.DataFrame, primary: int) -> list[dict]:
    """The conventional and the clinic's cut-off at the primary decision point, side by side."""
    rows = []
    chosen = measures[(measures["validation"] == VALIDATION) & (measures["session"] == primary)]
    conventional = result.get("conventional_cutoff")
    cutoffs = result.get("clinic_cutoffs", {}).get(str(primary), [])
    withheld = withheld_keys(result)
    for rule in RULES:
        part = chosen[chosen["strategy"] == rule].set_index("measure")
        if part.empty and (primary, rule) not in withheld:
            continue
        if rule == "conventional_cutoff":
            rule_text = fill(_("a total below {value}") if not conventional["inclusive"]
                             else _("a total at or below {value}"),
                             value=format_general(conventional["value"]))  # a setting, as written (36)
        elif min(cutoffs) == max(cutoffs):  # one cut-off, not a range "(33.00 to 33.00)"
            rule_text = fill(_("a total at or below {value}, the cut-off chosen in every fold"),
                             value=format_number(cutoffs[0], 2))
        else:
            rule_text = fill(_("a total at or below each fold's cut-off ({low} to {high})"),
                             low=format_number(min(cutoffs), 2),
                             high=format_number(max(cutoffs), 2))
        rows.append({"rule": _(STRATEGY_WORDS[rule]), "definition": rule_text}
                    | _alerts(part, (primary, rule) in withheld))
    return rows


def site_sentence(measures: pd.DataFrame, primary: int) -> str:
    """The internal-external validation (one site held out at a time) in a sentence, "" without it."""
    rows = measures[(measures["validation"] == "leave_one_site_out") & (measures["session"] == primary)
                    & (measures["measure"] == "auc")].set_index("strategy")
    if rows.empty:
        return ""
    parts = [fill(_("{model}: AUC {auc}"), model=_(STRATEGY_WORDS[name]),
                  auc=f"{format_unit(rows.loc[name, 'estimate'])} "
                      f"{format_ci(rows.loc[name, 'ci_low'], rows.loc[name, 'ci_high'], unit=True)}")
             for name in MODELS if name in rows.index]
    return fill(_("Holding out one site at a time (each site predicted by models fitted to the others): "
                  "{parts}."), parts="; ".join(parts))


# The early-warning models' own predictors (`alliance.prediction.decision_points`) in running text; a
# covariate is named by `variable_name`.
PREDICTOR_PHRASES = {
    "alliance_mean": N_("the mean of the totals so far"),
    "alliance_last": N_("the last total"),
    "alliance_change": N_("the change since the first total"),
    "rupture_so_far": N_("a rupture so far"),
    "alliance_n_scored": N_("the number of scored sessions"),
    "sessions_remaining": N_("the sessions remaining"),
}


def predictor_phrase(predictor: str) -> str:
    """An early-warning predictor in running text."""
    return _(PREDICTOR_PHRASES[predictor]) if predictor in PREDICTOR_PHRASES else variable_name(predictor)


def predictors_sentence(result: Mapping, primary: int) -> str:
    """Which predictors entered each fitted model at the primary decision point and why the others did not
    (the parameters its patients and dropouts support, Riley et al. 2020, or the configuration's number),
    and the parameters allowed at the other decision points where they differ; "" where the decision
    point was not analysed."""
    used = result.get("entered", {}).get(str(primary))
    if not used:
        return ""
    parts, left = [], False
    for name in (name for name in MODELS if name in used):
        left_out = [p for p in result["predictors"][name] if p not in used[name]]
        left = left or bool(left_out)
        parts.append(fill(_("{model}: {entered}") if not left_out else
                          _("{model}: {entered} (left out: {left_out})"),
                          model=_(STRATEGY_WORDS[name]),
                          entered=series([predictor_phrase(p) for p in used[name]]),
                          left_out=series([predictor_phrase(p) for p in left_out])))
    allowed = result["parameters_allowed"]
    n = int(allowed[str(primary)])
    if result.get("max_parameters", "auto") == "auto":
        why = ngettext("the patients analysed at session {session} and their dropouts support {allowed} "
                       "predictor parameter (a category of L levels counts L - 1; Riley et al., 2020)",
                       "the patients analysed at session {session} and their dropouts support {allowed} "
                       "predictor parameters (a category of L levels counts L - 1; Riley et al., 2020)", n)
    else:
        why = ngettext("the configuration allows {allowed} predictor parameter at a decision point "
                       "(early_warning.max_parameters)",
                       "the configuration allows {allowed} predictor parameters at a decision point "
                       "(early_warning.max_parameters)", n)
    how = (_("the predictors entered in the plan's order until the next would have exceeded them (the first "
             "in any case)") if left else _("every candidate entered"))
    others = [fill(_("{n} at session {session}"), n=format_count(int(value)), session=format_count(int(k)))
              for k, value in sorted(allowed.items(), key=lambda item: int(item[0])) if int(value) != n]
    text = fill(_("Predictors: {why}, so {how}. {parts}."), parts="; ".join(parts), how=how,
                why=fill(why, session=format_count(primary), allowed=format_count(n)))
    if others:
        text = join([text, fill(_("At the other decision points the parameters allowed differ, and with them "
                                  "the predictors (result.json): {others}."), others=series(others))])
    return text


# Why the patients and dropouts counted here are not H2's (a reader compared 67 dropouts with H2's 57).
VERSUS_H2 = N_("These are not H2's patients and dropouts: H2 analyses the patients with a scored alliance in "
               "{sessions} whose treatment went on after session {window}; here every patient in treatment "
               "at session {session} with a score by then counts, one who leaves right after it included.")


def flow_sentence(flow: pd.DataFrame | None, primary: int, min_cell_size: int) -> str:
    """How many patients were in treatment at the primary decision point, analysed and dropped out (a
    suppressed count as "fewer than k")."""
    if flow is None or flow.empty or primary not in set(flow["session"]):
        return ""
    row = flow.set_index("session").loc[primary]
    fewer = fill(_("fewer than {k}"), k=format_count(min_cell_size))
    shown = {name: (format_count(row[name]) if pd.notna(row[name]) else fewer)
             for name in ("in_treatment", "no_alliance_score", "at_risk", "dropped_out")}
    if pd.isna(row["dropped_out"]) and row.get("fewer_than_k") == "stayed" and pd.notna(row["at_risk"]):
        # withheld as fewer than k of the analysed stayed (`suppressed_flow`): more than all but k dropped out
        shown["dropped_out"] = more_than(int(row["at_risk"]), min_cell_size)
    if pd.isna(row["in_treatment"]) and (pd.notna(row["no_alliance_score"]) or pd.notna(row["at_risk"])):
        # withheld (`suppressed_flow`), not small: it would give away the suppressed one of its two parts
        return fill(_("At session {session}: {at_risk} patients analysed, of whom {dropped_out} dropped out; "
                      "{no_alliance_score} patients in treatment had no alliance score yet and were left out "
                      "(how many were in treatment is not shown, so that this count cannot be worked out)."),
                    session=format_count(primary), **shown)
    return fill(_("At session {session}: {in_treatment} patients in treatment, {no_alliance_score} of them "
                  "without an alliance score yet (left out), {at_risk} analysed, of whom {dropped_out} "
                  "dropped out."), session=format_count(primary), **shown)


def _combined(handles: list[Line2D]) -> Line2D:
    """A legend entry with the first marker and the first line style of `handles` (one strategy's
    lines in several panels)."""
    marker = next((h.get_marker() for h in handles if h.get_marker() not in ("None", "", None)), "None")
    line = next((h for h in handles if h.get_linestyle() not in ("None", "")), handles[0])
    return Line2D([], [], color=handles[0].get_color(), marker=marker, linestyle=line.get_linestyle(),
                  linewidth=line.get_linewidth())


def early_warning_figure(result: Mapping | None, roc: pd.DataFrame | None, calibration: pd.DataFrame | None,
                         curve: pd.DataFrame | None, measures: pd.DataFrame | None) -> Figure:
    """At the primary decision point: the ROC curves of the two models (the rules as points), their
    calibration (observed against predicted dropout in groups of patients) and the decision curve (net
    benefit of each model and rule, of alerting everyone and no one)."""
    title = _("Early warning of dropout from the alliance")
    primary = None if result is None else int(result["primary_session"])
    if roc is None or primary is None or roc[roc["session"] == primary].empty:
        return message_figure(title, _("The early-warning models could not be validated at the primary "
                                       "decision point; the report says why."))
    colours = {"alliance": "#1f77b4", "alliance_covariates": "#d62728", "conventional_cutoff": "0.2",
               "clinic_cutoff": "#2ca02c", "alert_all": "0.5", "alert_none": "0.7"}
    with figure_style():
        fig = new_figure(12, 5)
        axes = fig.subplots(1, 3)
        fig.suptitle(fill(_("{title}: session {session}"), title=title, session=format_count(primary)))
        ax = axes[0]
        ax.plot([0, 1], [0, 1], color="0.7", linestyle=":", linewidth=1)
        for name in MODELS:
            part = roc[(roc["session"] == primary) & (roc["strategy"] == name)]
            if part.empty:  # not fitted (its status says why)
                continue
            ax.plot(part["false_positive_rate"], part["true_positive_rate"], color=colours[name],
                    label=_(STRATEGY_WORDS[name]), linewidth=1.5)
        chosen = measures[(measures["validation"] == VALIDATION) & (measures["session"] == primary)]
        for rule, marker in zip(RULES, ("s", "D"), strict=True):
            part = chosen[chosen["strategy"] == rule].set_index("measure")
            if {"sensitivity", "specificity"} <= set(part.index):  # not withheld
                ax.plot(1 - part.loc["specificity", "estimate"], part.loc["sensitivity", "estimate"],
                        marker=marker, color=colours[rule], linestyle="none", label=_(STRATEGY_WORDS[rule]))
        ax.set_xlabel(_("False-positive rate (1 - specificity)"))
        ax.set_ylabel(_("Sensitivity"))
        ax.set_title(_("Discrimination (ROC)"))
        ax = axes[1]
        part = calibration[calibration["session"] == primary]
        top = float(np.nanmax([part["predicted"].max(), part["observed"].max(), 0.1])) * 1.1
        ax.plot([0, top], [0, top], color="0.7", linestyle=":", linewidth=1)
        for name in MODELS:
            bins = part[part["strategy"] == name]
            if bins.empty:
                continue
            ax.plot(bins["predicted"], bins["observed"], marker="o", color=colours[name],
                    label=_(STRATEGY_WORDS[name]), linewidth=1)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel(_("Predicted risk of dropout"))
        ax.set_ylabel(_("Observed dropout"))
        ax.set_title(_("Calibration"))
        ax = axes[2]
        part = curve[curve["session"] == primary]
        grid = np.sort(part["threshold"].unique())  # every threshold ("alert no one" has each)
        for name in (*MODELS, *RULES, "alert_all", "alert_none"):
            line = part[part["strategy"] == name]
            if line.empty:
                continue
            # a threshold left out (its alerts would give a small count away) is a gap, not a straight line
            line = line.set_index("threshold")["net_benefit"].reindex(grid).reset_index()
            ax.plot(line["threshold"], line["net_benefit"], color=colours[name],
                    linestyle="--" if name in RULES else ":" if name == "alert_all" else "-",
                    label=_(STRATEGY_WORDS[name]), linewidth=1.5 if name in MODELS else 1)
        low = min(-0.01, float(part.loc[part["strategy"].isin(MODELS), "net_benefit"].min()))
        ax.set_ylim(low, max(0.02, float(part["net_benefit"].max()) * 1.1))
        threshold = result["thresholds"].get(str(primary))
        if threshold is not None:
            ax.axvline(threshold, color="0.4", linewidth=0.8)
        ax.set_xlabel(_("Risk threshold for an alert"))
        ax.set_ylabel(_("Net benefit"))
        ax.set_title(_("Decision curve"))
        # One legend for the three panels, below them (never over a curve): one entry per strategy, with
        # the marker and the line it is drawn with in any panel (a rule: a point on the ROC, a dashed
        # decision curve).
        drawn: dict[str, list] = {}
        for panel in fig.axes:
            for handle, label in zip(*panel.get_legend_handles_labels(), strict=True):
                drawn.setdefault(label, []).append(handle)
        fig.legend([_combined(handles) for handles in drawn.values()], list(drawn),
                   loc="outside lower center", ncol=3, fontsize=10)
    return fig

