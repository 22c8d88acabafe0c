"""The report's section on H4c: the reciprocal within-patient dynamics of alliance and symptoms (RI-CLPM),
set beside H4a and H4b, which estimate each direction separately (ANALYSIS_PLAN.md, H4c)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure

from alliance.errors import REPORTED
from alliance.i18n import N_, _
from alliance.ingest.privacy import is_reportable
from alliance.models.dynamics import KEY, MODEL, dynamics_table, wave_sessions
from alliance.report.format import (
    format_ci,
    format_count,
    format_estimate,
    format_number,
    format_p,
    format_unit,
)
from alliance.report.style import figure_style, message_figure, new_figure
from alliance.report.words import fill, join, reason_text, status_word

EFFECT_WORDS = {
    "alliance_to_symptoms": N_("Alliance at a session -> symptoms at the next"),
    "symptoms_to_alliance": N_("Symptoms at a session -> alliance at the next"),
    "alliance_autoregression": N_("Alliance -> alliance at the next session"),
    "symptoms_autoregression": N_("Symptoms -> symptoms at the next session"),
    "random_intercept_correlation": N_("Patients' stable levels of alliance and symptoms (correlation)"),
}
# The same where the waves are every 2nd or later session (an alliance given every third session): the
# lagged effects are from one wave to the next, which the fit's sentence says is so many sessions
WAVE_EFFECT_WORDS = EFFECT_WORDS | {
    "alliance_to_symptoms": N_("Alliance at a wave -> symptoms at the next wave"),
    "symptoms_to_alliance": N_("Symptoms at a wave -> alliance at the next wave"),
    "alliance_autoregression": N_("Alliance -> alliance at the next wave"),
    "symptoms_autoregression": N_("Symptoms -> symptoms at the next wave"),
}
# Each direction: its RI-CLPM effect, the H4a/H4b effect row, and the sign that means "the alliance helps"
# in each (symptoms run higher = worse; H4b's predictor is the improvement, previous - current).
DIRECTIONS = {
    "forward": ("alliance_to_symptoms", ("symptoms_next", "alliance_within"), -1, -1, "H4a"),
    "reverse": ("symptoms_to_alliance", ("alliance_next", "symptom_improvement_within"), -1, 1, "H4b"),
}
FINDINGS = {
    "forward": {1: N_("higher alliance was followed by fewer symptoms"),
                -1: N_("higher alliance was followed by more symptoms"),
                0: N_("no within-patient effect of the alliance on the next symptoms was found")},
    "reverse": {1: N_("improvement in symptoms was followed by a higher alliance"),
                -1: N_("improvement in symptoms was followed by a lower alliance"),
                0: N_("no within-patient effect of symptom change on the next alliance was found")},
}


def _finding(low: float, high: float, sign: int) -> int:
    """1 where the 95% CI lies on the side `sign` marks as the expected direction, -1 on the other, 0
    where it includes 0."""
    if low > 0 or high < 0:
        return 1 if (low > 0) == (sign > 0) else -1
    return 0


def effect_words(step: int) -> dict[str, str]:
    """The lagged effects' names (untranslated) for waves `step` sessions apart."""
    return EFFECT_WORDS if step == 1 else WAVE_EFFECT_WORDS


def agreement_sentences(rows: pd.DataFrame, effects: pd.DataFrame) -> list[str]:
    """Per direction, what the RI-CLPM and the separate model (H4a forward, H4b reverse) each find and
    whether they agree; nothing for a direction whose H4a/H4b row is absent."""
    sentences = []
    by_effect = rows.set_index("effect")
    words = effect_words(int(rows["session_step"].iloc[0]))
    for direction, (effect, (outcome, predictor), riclpm_sign, separate_sign, key) in DIRECTIONS.items():
        separate = effects[(effects["outcome"] == outcome) & (effects["predictor"] == predictor)]
        if separate.empty or effect not in by_effect.index:
            continue
        ours = _finding(by_effect.loc[effect, "ci_low"], by_effect.loc[effect, "ci_high"], riclpm_sign)
        theirs = _finding(separate["ci_low"].iloc[0], separate["ci_high"].iloc[0], separate_sign)
        if ours == theirs:
            sentences.append(fill(_("{direction}: the RI-CLPM and {key} agree: {finding}."),
                                  direction=_(words[effect]), key=key,
                                  finding=_(FINDINGS[direction][ours])))
        else:
            sentences.append(fill(_("{direction}: the RI-CLPM and {key} differ: in the RI-CLPM {ours}; in "
                                    "{key} {theirs}."), direction=_(words[effect]), key=key,
                                  ours=_(FINDINGS[direction][ours]), theirs=_(FINDINGS[direction][theirs])))
    return sentences


def reportable_dynamics(result: Mapping | None, min_cell_size: int) -> Mapping | None:
    """H4c's result as the report may show it: without its fit (`riclpm`, marked `withheld`) when the fit
    rests on fewer than `min_cell_size` patients, as the effect tables withhold such an effect (section 8;
    H4c needs 10 therapists, so this happens only with a minimum cell size above 10); the section and its
    figure are drawn from it, as H5's from `reportable_dimensions`."""
    fit = (result or {}).get("riclpm")
    if not fit or is_reportable(int(fit["n"]), min_cell_size):
        return result
    return {**result, "riclpm": None, "withheld": True}


def dynamics_section(result: Mapping | None, effects: pd.DataFrame, status: pd.DataFrame,
                     multiplicity: pd.DataFrame | None = None) -> dict:
    """The section's context from H4c's `result` (`alliance.models.dynamics.dynamics_analysis`): the
    effects' `rows` (estimate, 95% CI, p, and the cross-lags' q in the secondary family from
    `multiplicity`), the `fit` in words, the `agreement` with H4a and H4b, or
    `not_estimated` with the status's reason, or saying that the fit is withheld (a result marked by
    `reportable_dynamics`); empty for a run without it."""
    row = status[status["key"] == KEY]
    if result is None or row.empty:
        return {"rows": [], "fit": "", "agreement": [], "not_estimated": ""}
    record: Mapping = row.iloc[0]
    if record["status"] not in REPORTED:
        return {"rows": [], "fit": "", "agreement": [], "not_estimated": fill(
            _("{key}: {status}. {reason}"), key=KEY, status=status_word(record["status"]),
            reason=reason_text(record))}
    if result.get("withheld"):
        return {"rows": [], "fit": "", "agreement": [], "not_estimated": fill(
            _("{key}: {status}. The estimates are withheld: they rest on fewer patients than the minimum "
              "cell size."), key=KEY, status=status_word(record["status"]))}
    table = dynamics_table(dict(result))
    tests = pd.DataFrame() if multiplicity is None else multiplicity[multiplicity["model"] == MODEL]
    q_values = dict(zip(tests.get("predictor", []), tests.get("q_value", []), strict=True))
    first = table.iloc[0]
    step = int(first["session_step"])
    words = effect_words(step)
    rows = [{"effect": _(words[r["effect"]]),
             "estimate": format_unit(r["estimate"], 2) if r["effect"] == "random_intercept_correlation"
             else format_number(r["estimate"], 3),
             "ci": format_ci(r["ci_low"], r["ci_high"], unit=r["effect"] == "random_intercept_correlation",
                             digits=2 if r["effect"] == "random_intercept_correlation" else 3),
             "p": format_p(r["p"]) if pd.notna(r["p"]) else "",
             "q": format_p(q_values[r["effect"]]) if r["effect"] in q_values else ""}
            for _index, r in table.iterrows()]
    sessions = wave_sessions(int(first["first_session"]), step, int(first["waves"]))
    statistics = dict(n=format_count(first["n"]), therapists=format_count(first["n_therapists"]),
                      df=format_count(first["df"]), chisq=format_number(first["chisq"]),
                      cfi=format_unit(first["cfi"], 3), rmsea=format_unit(first["rmsea"], 3))
    if step == 1:
        fit = fill(_("{n} patients of {therapists} therapists over sessions {first} to {last} "
                     "(full-information maximum likelihood: patients who left early count with the sessions "
                     "they had); χ²({df}) = {chisq}, CFI {cfi}, RMSEA {rmsea}."),
                   first=format_count(sessions[0]), last=format_count(sessions[-1]), **statistics)
    else:
        fit = fill(_("{n} patients of {therapists} therapists over sessions {sessions}, the waves of the "
                     "model (both scores are recorded every {step} sessions, so each lagged effect spans "
                     "{step} sessions; full-information maximum likelihood: patients who left early count "
                     "with the sessions they had); χ²({df}) = {chisq}, CFI {cfi}, RMSEA {rmsea}."),
                   sessions=join([format_count(session) for session in sessions], ", "),
                   step=format_count(step), **statistics)
    if reason_text(record, "flags"):  # an improper within-patient variance (`improper_within`)
        fit = Markup(" ").join([fit, reason_text(record, "flags")])
    return {"rows": rows, "fit": fit, "agreement": agreement_sentences(table, effects), "not_estimated": ""}


def dynamics_figure(result: Mapping | None) -> Figure:
    """H4c as a path diagram: alliance and symptoms at session t and t + 1, each lagged effect an arrow
    labelled with its estimate and 95% CI (solid where the CI excludes 0, dashed where it does not); a
    message where it was not estimated or is withheld (`reportable_dynamics`)."""
    title = _("Which comes first: alliance or symptom change")
    fit = (result or {}).get("riclpm")
    if (result or {}).get("withheld"):  # `reportable_dynamics`
        return message_figure(title, _("The reciprocal dynamics rest on too few patients to be shown; the "
                                       "report says so."))
    if not fit:
        return message_figure(title, _("The reciprocal dynamics of alliance and symptoms could not be "
                                       "estimated; the report says why."))
    rows = dynamics_table(dict(result)).set_index("effect")
    step = int(rows["session_step"].iloc[0])
    nodes = {"alliance_t": (0.12, 0.75), "symptoms_t": (0.12, 0.25), "alliance_next": (0.88, 0.75),
             "symptoms_next": (0.88, 0.25)}
    labels = {"alliance_t": _("Alliance\nsession t"), "symptoms_t": _("Symptoms\nsession t"),
              "alliance_next": fill(_("Alliance\nsession t + {step}"), step=format_count(step)),
              "symptoms_next": fill(_("Symptoms\nsession t + {step}"), step=format_count(step))}
    arrows = {"alliance_autoregression": ("alliance_t", "alliance_next", (0.5, 0.83)),
              "symptoms_autoregression": ("symptoms_t", "symptoms_next", (0.5, 0.17)),
              "alliance_to_symptoms": ("alliance_t", "symptoms_next", (0.36, 0.56)),
              "symptoms_to_alliance": ("symptoms_t", "alliance_next", (0.64, 0.56))}
    with figure_style():
        fig = new_figure(8, 4.2)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(title)
        for name, (x, y) in nodes.items():
            ax.text(x, y, labels[name], ha="center", va="center", fontsize=10,
                    bbox={"boxstyle": "round,pad=0.5", "facecolor": "white", "edgecolor": "0.3"})
        for effect, (start, end, (lx, ly)) in arrows.items():
            row = rows.loc[effect]
            sure = row["ci_low"] > 0 or row["ci_high"] < 0
            ax.annotate("", xy=(nodes[end][0] - 0.085, nodes[end][1]), xytext=(nodes[start][0] + 0.07,
                        nodes[start][1]), arrowprops={"arrowstyle": "-|>", "lw": 1.8 if sure else 1.0,
                                                      "linestyle": "-" if sure else "--", "color": "0.15"})
            label = format_estimate(row["estimate"], row["ci_low"], row["ci_high"], "\n")
            ax.text(lx, ly, label, ha="center", va="center", fontsize=9,
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"})
        ax.text(0.5, 0.02, _("Within-patient lagged effects per point of the earlier score (RI-CLPM, equal "
                             "across sessions); solid: the 95% CI excludes 0."), ha="center", va="bottom",
                fontsize=8, color="0.3", wrap=True)  # wrapped within the figure (longer in Spanish)
    return fig
