"""The report's section on H4c: the reciprocal within-patient dynamics of alliance and symptoms (RI-CLPM),
set beside H4a and H4b, which estimate each direction separately (ANALYSIS_PLAN.md, H4c)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from alliance.errors import REPORTED
from alliance.i18n import N_, _
from alliance.models.dynamics import KEY, dynamics_table
from alliance.report.format import format_ci, format_count, format_number, format_p, format_unit
from alliance.report.words import fill, reason_text, status_word

EFFECT_WORDS = {
    "alliance_to_symptoms": N_("Alliance at a session -> symptoms at the next"),
    "symptoms_to_alliance": N_("Symptoms at a session -> alliance at the next"),
    "alliance_autoregression": N_("Alliance -> alliance at the next session"),
    "symptoms_autoregression": N_("Symptoms -> symptoms at the next session"),
    "random_intercept_correlation": N_("Patients' stable levels of alliance and symptoms (correlation)"),
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


def agreement_sentences(rows: pd.DataFrame, effects: pd.DataFrame) -> list[str]:
    """Per direction, what the RI-CLPM and the separate model (H4a forward, H4b reverse) each find and
    whether they agree; nothing for a direction whose H4a/H4b row is absent."""
    sentences = []
    by_effect = rows.set_index("effect")
    for direction, (effect, (outcome, predictor), riclpm_sign, separate_sign, key) in DIRECTIONS.items():
        separate = effects[(effects["outcome"] == outcome) & (effects["predictor"] == predictor)]
        if separate.empty or effect not in by_effect.index:
            continue
        ours = _finding(by_effect.loc[effect, "ci_low"], by_effect.loc[effect, "ci_high"], riclpm_sign)
        theirs = _finding(separate["ci_low"].iloc[0], separate["ci_high"].iloc[0], separate_sign)
        if ours == theirs:
            sentences.append(fill(_("{direction}: the RI-CLPM and {key} agree: {finding}."),
                                  direction=_(EFFECT_WORDS[effect]), key=key,
                                  finding=_(FINDINGS[direction][ours])))
        else:
            sentences.append(fill(_("{direction}: the RI-CLPM and {key} differ: in the RI-CLPM {ours}; in "
                                    "{key} {theirs}."), direction=_(EFFECT_WORDS[effect]), key=key,
                                  ours=_(FINDINGS[direction][ours]), theirs=_(FINDINGS[direction][theirs])))
    return sentences


def dynamics_section(result: Mapping | None, effects: pd.DataFrame, status: pd.DataFrame) -> dict:
    """The section's context from H4c's `result` (`alliance.models.dynamics.dynamics_analysis`): the
    effects' `rows` (estimate, 95% CI, p), the `fit` in words, the `agreement` with H4a and H4b, or
    `not_estimated` with the status's reason; empty for a run without it."""
    row = status[status["key"] == KEY]
    if result is None or row.empty:
        return {"rows": [], "fit": "", "agreement": [], "not_estimated": ""}
    record: Mapping = row.iloc[0]
    if record["status"] not in REPORTED:
        return {"rows": [], "fit": "", "agreement": [], "not_estimated": fill(
            _("{key}: {status}. {reason}"), key=KEY, status=status_word(record["status"]),
            reason=reason_text(record))}
    table = dynamics_table(dict(result))
    first = table.iloc[0]
    rows = [{"effect": _(EFFECT_WORDS[r["effect"]]),
             "estimate": format_unit(r["estimate"], 2) if r["effect"] == "random_intercept_correlation"
             else format_number(r["estimate"], 3),
             "ci": format_ci(r["ci_low"], r["ci_high"], unit=r["effect"] == "random_intercept_correlation",
                             digits=2 if r["effect"] == "random_intercept_correlation" else 3),
             "p": format_p(r["p"]) if pd.notna(r["p"]) else ""}
            for _index, r in table.iterrows()]
    fit = fill(_("{n} patients of {therapists} therapists over sessions 1 to {waves} (full-information "
                 "maximum likelihood: patients who left early count with the sessions they had); "
                 "chi2({df}) = {chisq}, CFI {cfi}, RMSEA {rmsea}."),
               n=format_count(first["n"]), therapists=format_count(first["n_therapists"]),
               waves=format_count(first["waves"]), df=format_count(first["df"]),
               chisq=format_number(first["chisq"]), cfi=format_unit(first["cfi"], 3),
               rmsea=format_unit(first["rmsea"], 3))
    return {"rows": rows, "fit": fit, "agreement": agreement_sentences(table, effects), "not_estimated": ""}
