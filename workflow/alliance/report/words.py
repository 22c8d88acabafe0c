"""The words of the report: outcomes, predictors, levels, models and statuses as sentences.

The tables of words keep English (`N_`) and are translated where they are shown (`_`); the sentences are
whole messages with named placeholders, so that Spanish and Catalan can order and agree their words. A
fit's reasons, flags, notes and the steps of its flow, and the data warnings of the validation, are
messages set where they happened (`alliance.i18n.Message`), written here in the report's language
(`reason_words`, `notes_words`); a record written without its message gives its English, marked as such
(`foreign`); `fill` and `join` keep such marked text intact in a sentence of another language.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from alliance.i18n import (
    N_,
    Message,
    _,
    active_min_cell_size,
    complement_suppressed,
    elided_format,
    language,
    ngettext,
    pgettext,
    read_message,
    suppressed_count,
)
from alliance.ingest.privacy import discloses
from alliance.models import adherence, dropout, satisfaction, survival, symptoms
from alliance.models.common import left_out_covariate
from alliance.report.format import (
    bound_digits,
    count_with_share,
    estimate_digits,
    foreign,
    format_ci,
    format_count,
    format_number,
    format_percent,
    format_unit,
    format_value,
    interval_digits,
    p_text,
)

HYPOTHESES = {"adherence": "H1", "dropout": "H2", "satisfaction": "H3", "symptoms": "H4"}

# A cell whose value would give a count of 1 to k - 1 away (ANALYSIS_PLAN.md, section 8), said under
# its table.
WITHHELD = N_("withheld")


def share_cell(share: float, n: float, min_cell_size: int | None) -> str:
    """A share of `n` questionnaires or patients as a percentage, "withheld" where it is 1 to k - 1 of them
    or leaves that few (`alliance.ingest.privacy.discloses`): times the count shown it would give that
    count away ("1.7%" of 356 is 6; ANALYSIS_PLAN.md, section 8)."""
    return _(WITHHELD) if discloses(np.rint(share * n), n, min_cell_size) else format_percent(share)


OUTCOME_WORDS = {
    "attendance": N_("attendance at the sessions scheduled after the early window"),
    "dropout": N_("dropout after the early window"),
    "satisfaction": N_("satisfaction at the end of treatment"),
    "session attendance": N_("attendance at each scheduled session"),
    "home practice": N_("share of home practice done since the last session"),
    "symptom_improvement": N_("symptom improvement from the first to the last session (first - last)"),
    "symptoms_next": N_("symptoms at the next attended session"),
    "alliance_next": N_("alliance at the next attended session"),
}


def outcome_name(outcome: str) -> str:
    """An outcome's short name in words (the effect rows name some by their column: "symptoms_next" is
    "symptoms at the next session")."""
    # Translators: the short names of the outcomes in table cells, headings and running text.
    names = {"attendance": pgettext("outcome", "attendance"), "dropout": pgettext("outcome", "dropout"),
             "satisfaction": pgettext("outcome", "satisfaction"),
             "session attendance": pgettext("outcome", "session attendance"),
             "home practice": pgettext("outcome", "home practice"),
             "symptom_improvement": pgettext("outcome", "symptom improvement"),
             "symptoms_next": pgettext("outcome", "symptoms at the next session"),
             "alliance_next": pgettext("outcome", "alliance at the next session")}
    return names.get(outcome, outcome)


def variable_name(column: str) -> str:
    """A covariate or imputed variable of the data contract in words ("baseline severity"); an outcome by
    its short name; any other column (a user's own covariate) as the data name it."""
    # Translators: variables of the data contract (covariates, imputed variables) in running text.
    names = {"baseline_severity": pgettext("variable", "baseline severity"),
             "discipline": pgettext("variable", "discipline"), "site": pgettext("variable", "site"),
             "age_band": pgettext("variable", "age band"), "gender": pgettext("variable", "gender")}
    return names[column] if column in names else outcome_name(column)


def family_name(family: str) -> str:
    """A model family's name (a section heading: "H1: adherence")."""
    # Translators: the families of models, one per hypothesis, as section headings ("H1: adherence").
    names = {"adherence": pgettext("model family", "adherence"),
             "dropout": pgettext("model family", "dropout"),
             "satisfaction": pgettext("model family", "satisfaction"),
             "symptoms": pgettext("model family", "symptoms")}
    return names.get(family, family)


def analysis_word(analysis: str) -> str:
    """An effect's role in the analysis plan: primary, secondary, exploratory or sensitivity."""
    # Translators: the role of an analysis in the analysis plan, in a table cell (an analysis/effect).
    words = {"primary": pgettext("analysis", "primary"), "secondary": pgettext("analysis", "secondary"),
             "exploratory": pgettext("analysis", "exploratory"),
             "sensitivity": pgettext("analysis", "sensitivity")}
    return words.get(analysis, analysis)


def hypothesis_role(analysis: str) -> str:
    """A hypothesis' role in the plan ("H4 (secondary)"): `analysis_word` agreeing with "hypothesis"."""
    # Translators: the role of a hypothesis of the plan, after its key: "H4 (secondary)" (la hipótesis).
    words = {"primary": pgettext("hypothesis", "primary"), "secondary": pgettext("hypothesis", "secondary"),
             "exploratory": pgettext("hypothesis", "exploratory"),
             "sensitivity": pgettext("hypothesis", "sensitivity")}
    return words.get(analysis, analysis)


def discipline_name(discipline: str) -> str:
    """A discipline of the cohort by its name (the data's own word when not one of the usual four)."""
    names = {"psychotherapy": pgettext("discipline", "psychotherapy"),
             "physiotherapy": pgettext("discipline", "physiotherapy"),
             "osteopathy": pgettext("discipline", "osteopathy"),
             "nutrition": pgettext("discipline", "nutrition"), "other": pgettext("discipline", "other")}
    return names.get(discipline, discipline)


PREDICTOR_WORDS = {
    "alliance_early": N_("early alliance (mean total over scored sessions 1 to {early_window})"),
    "alliance_mean": N_("mean alliance over all scored sessions"),
    "alliance_prev": N_("alliance at the previous scored session (time-varying)"),
    "alliance_prev_within": N_("within-patient alliance: previous scored session minus the patient's mean"),
    "alliance_between": N_("between-patient alliance: the patient's mean"),
    "alliance_prev_deviation": N_("within-patient alliance: previous scored session minus the patient's mean "
                                  "so far"),
    "alliance_running_mean": N_("between-patient alliance: the patient's mean over the scored sessions so "
                                "far"),
    "rupture_before": N_("a rupture detected before the session (yes vs no)"),
    "alliance_within": N_("within-patient alliance: this session minus the patient's mean"),
    "symptom_improvement_within": N_("within-patient symptom improvement since the previous session"),
    "symptom_improvement_between": N_("between-patient symptom improvement (the patient's mean)"),
}


# Short labels of the predictors for table cells; each table defines the ones it shows once, below it, in
# the words of PREDICTOR_WORDS.
PREDICTOR_LABELS = {
    "alliance_early": N_("early alliance"),
    "alliance_mean": N_("mean alliance"),
    "alliance_prev": N_("previous alliance"),
    "alliance_prev_within": N_("within: previous"),
    "alliance_between": N_("between: patient mean"),
    "alliance_prev_deviation": N_("within: previous, so far"),
    "alliance_running_mean": N_("between: mean so far"),
    "rupture_before": N_("rupture before"),
    "alliance_within": N_("within: this session"),
    "symptom_improvement_within": N_("symptom change, within"),
    "symptom_improvement_between": N_("symptom change, between"),
}
# Translators: {label} is a predictor's short label, e.g. "early alliance".
LEVEL_LABELS = {"_therapist": N_("{label}, therapist mean"), "_patient": N_("{label}, patient deviation")}


# Translators: {predictor} is a predictor in words, e.g. "early alliance (mean total over ...)".
LEVEL_WORDS = {"_therapist": N_("therapist mean of {predictor}"),
               "_patient": N_("patient's deviation from the therapist mean of {predictor}")}


SCALE_WORDS = {"log_odds": N_("log OR"), "log_hazard": N_("log HR"), "points": N_("points")}
# The same after an estimate in a sentence ("0.32 on the log odds ratio scale", "1.82 points").
SCALE_PHRASES = {"log_odds": N_("on the log odds ratio scale"),
                 "log_hazard": N_("on the log hazard ratio scale"), "points": N_("points")}


def scale_word(scale: str) -> str:
    """The scale of an estimate as a table cell: log OR (log odds ratio), log HR, points."""
    return _(SCALE_WORDS[scale]) if scale in SCALE_WORDS else scale


MODEL_WORDS = {
    adherence.MODEL: N_("binomial GLM (logit) of sessions attended out of sessions scheduled after the "
                        "early window, with therapist-cluster-robust standard errors"),
    dropout.MODEL: N_("logistic GLM of dropout after the early window, with therapist-cluster-robust "
                      "standard errors"),
    satisfaction.MODEL: N_("linear mixed model with a random intercept per therapist"),
    survival.DISCRETE_MODEL: N_("discrete-time hazard (logistic, one row per session at risk, baseline "
                                "hazard per session) on the alliance of the previous scored session, with "
                                "therapist-cluster-robust standard errors"),
    survival.COX_MODEL: N_("Cox model with time-varying alliance of the previous scored session in (start, "
                           "stop] form, with therapist-cluster-robust standard errors"),
    survival.DISCRETE_SPLIT_MODEL: N_("discrete-time hazard as above with the previous alliance split into "
                                      "the patient's running mean and the deviation from it (no look-ahead)"),
    survival.COX_SPLIT_MODEL: N_("Cox model as above with the previous alliance split into the patient's "
                                 "running mean and the deviation from it (no look-ahead)"),
    survival.RUPTURE_MODEL: N_("discrete-time hazard with a rupture before the session beside the previous "
                               "alliance, with therapist-cluster-robust standard errors"),
    adherence.GEE_MODEL: N_("GEE (logit) on the sessions scheduled after the early window, exchangeable "
                            "correlation within therapist, robust standard errors (check of the primary "
                            "model)"),
    adherence.SESSION_MODEL: N_("logistic GLM of attending each session, baseline per session, with "
                                "therapist-cluster-robust standard errors"),
    adherence.HOME_MODEL: N_("linear mixed model with a random intercept per patient, with "
                             "therapist-cluster-robust standard errors"),
    symptoms.DYNAMIC_MODEL: N_("dynamic model with a patient random intercept and the first score and mean "
                               "alliance as regressors (Wooldridge, 2005), the lagged outcome uncentred, "
                               "therapist-cluster-robust standard errors; r is a partial standardised slope, "
                               "not comparable with the bivariate benchmark"),
    satisfaction.ORDINAL_MODEL: N_("proportional-odds ordinal logit model, with therapist-cluster-robust "
                                   "standard errors (check of the primary model)"),
}

# Each model's short name, for figure labels and the Methods' list of models (`MODEL_WORDS` in full).
MODEL_SHORT = {
    adherence.MODEL: N_("binomial GLM"),
    dropout.MODEL: N_("logistic GLM"),
    satisfaction.MODEL: N_("linear mixed model"),
    satisfaction.ORDINAL_MODEL: N_("ordinal logit"),
    survival.DISCRETE_MODEL: N_("discrete-time hazard"),
    survival.COX_MODEL: N_("time-varying Cox"),
    survival.DISCRETE_SPLIT_MODEL: N_("discrete-time hazard, split"),
    survival.COX_SPLIT_MODEL: N_("time-varying Cox, split"),
    survival.RUPTURE_MODEL: N_("rupture hazard"),
    adherence.GEE_MODEL: N_("GEE"),
    adherence.SESSION_MODEL: N_("session logit"),
    adherence.HOME_MODEL: N_("linear mixed model, patient intercept"),
    symptoms.DYNAMIC_MODEL: N_("dynamic model"),
}


def model_short(model: str) -> str:
    """A model's short name (translated; the code's words, e.g. "riclpm fiml", for one not listed)."""
    if model in MODEL_SHORT:
        return _(MODEL_SHORT[model])
    return model.removesuffix("_cluster_therapist").replace("_", " ")


# The Wald tests of the levels and moderation models, each a sentence with its statistic.
# Levels of measurement invariance, and the groupings compared (ANALYSIS_PLAN.md, section 3).
INVARIANCE_WORDS = {"configural": N_("configural"), "metric": N_("metric"), "scalar": N_("scalar")}
GROUPING_WORDS = {"discipline": N_("disciplines"), "site": N_("sites")}
LEVEL_TEST_WORDS = {
    "therapist_vs_patient": N_("Test that the therapist-level and patient-level alliance slopes are equal "
                               "(Wald): χ²({df}) = {statistic}, {p}."),
    "equal_slopes_by_discipline": N_("Test that the alliance slopes are equal across disciplines (Wald): "
                                     "χ²({df}) = {statistic}, {p}."),
}
# The same with the few-cluster correction: F on the therapists' G - 1 denominator df.
LEVEL_F_TEST_WORDS = {
    "therapist_vs_patient": N_("Test that the therapist-level and patient-level alliance slopes are equal "
                               "(Wald, F with the few-cluster correction): F({df}, {df_denom}) = "
                               "{statistic}, {p}."),
    "equal_slopes_by_discipline": N_("Test that the alliance slopes are equal across disciplines (Wald, F "
                                     "with the few-cluster correction): F({df}, {df_denom}) = {statistic}, "
                                     "{p}."),
}


def phrase(table: dict[str, str], key: str, **values: object) -> str:
    """`key`'s words in `table`, translated (its own words, underscores as spaces, when absent), `values`
    filled in."""
    return (_(table[key]) if key in table else key.replace("_", " ")).format(**values)


# Early alliance over an early window of one session: "the mean total over sessions 1 to 1" would say it
EARLY_ALLIANCE_ONE_SESSION = N_("early alliance (the total at session 1)")


def early_sessions(early_window: int) -> str:
    """The sessions of the early window in words: "sessions 1 to 3", "session 1"."""
    # Translators: the sessions of the early window ("scored alliance in sessions 1 to 3").
    return ngettext("session {k}", "sessions 1 to {k}", early_window).format(k=format_count(early_window))


def predictor_phrase(stem: str, early_window: int) -> str:
    """A predictor stem's definition (`PREDICTOR_WORDS`), early alliance's with the early window filled in
    (its own words for a window of one session)."""
    if stem == "alliance_early" and early_window == 1:
        return _(EARLY_ALLIANCE_ONE_SESSION)
    return phrase(PREDICTOR_WORDS, stem, early_window=early_window)


def predictor_words(predictor: str, early_window: int) -> str:
    """A predictor in words, including its therapist/patient parts and per-discipline slopes."""
    base, _sep, level = predictor.partition(" [")
    if level:
        # Translators: a per-discipline slope, e.g. "early alliance (...), nutrition only".
        return _("{predictor}, {discipline} only").format(predictor=predictor_words(base, early_window),
                                                          discipline=discipline_name(level.rstrip("]")))
    for suffix, words in LEVEL_WORDS.items():
        stem = base.removesuffix(suffix)
        if stem != base and stem in PREDICTOR_WORDS:
            return _(words).format(predictor=predictor_phrase(stem, early_window))
    return predictor_phrase(base, early_window)


def predictor_base(predictor: str) -> tuple[str, str, str]:
    """A predictor's stem, its level suffix (`_therapist`, `_patient` or "") and discipline ("" if none)."""
    base, _sep, discipline = predictor.partition(" [")
    for suffix in LEVEL_WORDS:
        stem = base.removesuffix(suffix)
        if stem != base and stem in PREDICTOR_WORDS:
            return stem, suffix, discipline.rstrip("]")
    return base, "", discipline.rstrip("]")


def _predictor_short(stem: str) -> str:
    return _(PREDICTOR_LABELS[stem]) if stem in PREDICTOR_LABELS else stem.replace("_", " ")


def predictor_label(predictor: str) -> str:
    """A predictor's short label for a table cell: "early alliance", "early alliance, therapist mean",
    "early alliance, nutrition"; `predictor_definitions` defines the stems in full."""
    stem, level, discipline = predictor_base(predictor)
    label = _predictor_short(stem)
    if level:
        label = _(LEVEL_LABELS[level]).format(label=label)
    return f"{label}, {discipline_name(discipline)}" if discipline else label


def predictor_definitions(predictors, early_window: int) -> list[tuple[str, str]]:
    """The short label and the full definition of each predictor stem among `predictors`, once each."""
    stems = dict.fromkeys(predictor_base(p)[0] for p in predictors)
    return [(_predictor_short(stem), predictor_phrase(stem, early_window))
            for stem in stems]


# One primary effect in words: with an odds ratio (logistic models) or without.
EFFECT_SENTENCES = {
    True: N_("Per SD of {predictor}, the estimate for {outcome} was {estimate} {scale} (95% CI {low} to "
             "{high}, {p}), an odds ratio of {odds_ratio}; as a correlation, r = {r} {r_ci} ({observations} "
             "of {patients} and {therapists})."),
    False: N_("Per SD of {predictor}, the estimate for {outcome} was {estimate} {scale} (95% CI {low} to "
              "{high}, {p}); as a correlation, r = {r} {r_ci} ({observations} of {patients} and "
              "{therapists})."),
}
# A points effect whose standardised slope or its CI passes +/-1 (few patients): no correlation then.
EFFECT_SENTENCE_NO_R = N_("Per SD of {predictor}, the estimate for {outcome} was {estimate} {scale} (95% CI "
                          "{low} to {high}, {p}); in SD of the outcome, {r} {r_ci}, a standardised slope "
                          "that passes ±1 and so is no correlation ({observations} of {patients} and "
                          "{therapists}).")
# The direction of a primary effect whose CI excludes zero, by outcome: (more, less).
DIRECTION_SENTENCES = {
    "attendance": (N_("A better alliance went with more attendance; the CI excludes zero."),
                   N_("A better alliance went with less attendance; the CI excludes zero.")),
    "dropout": (N_("A better alliance went with more dropout; the CI excludes zero."),
                N_("A better alliance went with less dropout; the CI excludes zero.")),
    "satisfaction": (N_("A better alliance went with more satisfaction; the CI excludes zero."),
                     N_("A better alliance went with less satisfaction; the CI excludes zero.")),
}


def effect_summary(row: pd.Series, early_window: int) -> str:
    """One primary effect row in words: estimate per SD, 95% CI, p, r, and the sample."""
    low_digits, high_digits = bound_digits(row["ci_low"], row["ci_high"],
                                          interval_digits(row["ci_low"], row["ci_high"]))
    beyond = any(abs(value) > 1 for value in (row["r"], row["r_ci_low"], row["r_ci_high"]))  # NaN: no
    template = EFFECT_SENTENCE_NO_R if beyond else EFFECT_SENTENCES[row["scale"] == "log_odds"]
    sentence = fill(_(template),
        predictor=predictor_words(row["predictor"], early_window),
        outcome=phrase(OUTCOME_WORDS, row["outcome"]),
        estimate=format_number(row["estimate"], estimate_digits(row["estimate"])),
        scale=_(SCALE_PHRASES[row["scale"]]),
        low=format_number(row["ci_low"], low_digits), high=format_number(row["ci_high"], high_digits),
        p=p_text(row["p_value"]), odds_ratio=format_number(np.exp(row["estimate"])),
        r=format_number(row["r"]) if beyond else format_unit(row["r"]),
        r_ci=format_ci(row["r_ci_low"], row["r_ci_high"], unit=not beyond),
        observations=counted(row["n_obs"], "observation"), patients=counted(row["n_patients"], "patient"),
        therapists=counted(row["n_therapists"], "therapist"),
    )
    if row["ci_low"] > 0 or row["ci_high"] < 0:
        more = row["estimate"] > 0
        if row["outcome"] in DIRECTION_SENTENCES:
            direction = _(DIRECTION_SENTENCES[row["outcome"]][0 if more else 1])
        else:
            direction = (_("A better alliance went with more {outcome}; the CI excludes zero.") if more else
                         _("A better alliance went with less {outcome}; the CI excludes zero.")
                         ).format(outcome=outcome_name(row["outcome"]))
        return " ".join([sentence, direction])
    return " ".join([sentence, _("The CI includes zero.")])


# A count with its noun, singular and plural.
COUNTED = {
    "patient": (N_("1 patient"), N_("{n} patients")),
    "therapist": (N_("1 therapist"), N_("{n} therapists")),
    "observation": (N_("1 observation"), N_("{n} observations")),
    # Translators: a count of patients who dropped out (abandonos/abandonaments).
    "dropout": (N_("1 dropout"), N_("{n} dropouts")),
}


def counted(n: int, noun: str, of: int | None = None) -> str:
    """A count with its noun in the right number: "1 therapist", "12 therapists" (`noun`: one of
    `COUNTED`; another noun is counted in English, with an "s" for the plural). A count of patients,
    observations or dropouts of 1 to k - 1 reads "<k patients" inside `suppressing_counts(k)` (the
    report), and one that leaves 1 to k - 1 of `of` (shown beside it) "more than of - k dropouts";
    therapists are counted as they are (`alliance.models.common.unit_count`)."""
    hidden = suppressed_count(n) if noun != "therapist" else None
    if hidden is None and of is not None and complement_suppressed(n, of) is not None:
        hidden = more_than(of, active_min_cell_size())
    if noun not in COUNTED:
        return f"{hidden or format_count(n)} {noun if n == 1 and not hidden else noun + 's'}"
    singular, plural = COUNTED[noun]
    if hidden:
        return _(plural).format(n=hidden)
    return _(singular) if n == 1 else _(plural).format(n=format_count(n))


def suppressed_effect(min_cell_size: int) -> str:
    """What an effect resting on fewer than `min_cell_size` patients shows instead of its numbers."""
    return _("suppressed (<{k} patients)").format(k=format_count(min_cell_size))


def more_than(total: int, min_cell_size: int) -> str:
    """A count withheld because it leaves 1 to k - 1 of `total` (ANALYSIS_PLAN.md, section 8): "more than"
    total - k, which is true of it and tells nothing of the few it leaves."""
    return _("more than {n}").format(n=format_count(total - min_cell_size))


def shown_count(n: int, min_cell_size: int, of: int | None = None) -> str:
    """A count (with its share of `of`) for the report; "<k" when it is 1 to k - 1, and "more than
    of - k", without a share, when it leaves 1 to k - 1 of `of` (197 dropouts of 200 told that 3 stayed;
    ANALYSIS_PLAN.md, section 8)."""
    if 0 < n < min_cell_size:
        return f"<{min_cell_size}"
    if of is not None and discloses(n, of, min_cell_size):
        return more_than(of, min_cell_size)
    return count_with_share(n, of) if of is not None else format_count(n)


NARRATIVE_CITATION = re.compile(r"(?P<authors>.*?\S)\s*\((?P<year>\d{4}[a-z]?|n\.d\.|in press)\)")


# APA's "&" between the last two authors as the report's language writes it (APA's Spanish adaptation: "y",
# "e" before a name that starts with the sound i, as "Wampold e Imel"; an English "Hi-" is said with its h,
# so "y Hill"; Catalan "i"); English keeps "&". A surname may start with a particle ("de Vries").
CONJUNCTIONS = {"es": "y", "ca": "i"}
PARTICLES = "de|del|della|di|du|la|le|van|von|der|ten"
AUTHORS_AND = re.compile(rf"(?<=\w) (?:&|&amp;) (?=[A-Z\u00c0-\u00dd]|(?:{PARTICLES}) )")
I_SOUND = re.compile(r"I(?![aeiou\u00e1\u00e9\u00ed\u00f3\u00fa])")


def conjunction_before(name: str, code: str) -> str:
    """The word for APA's "&" before `name` in language `code` ("&" in English)."""
    word = CONJUNCTIONS.get(code, "&")
    return "e" if word == "y" and I_SOUND.match(name) else word


def local_authors(text: str, code: str | None = None) -> str:
    """`text` with APA's "&" between authors ("Hatcher & Gillaspy", also HTML's "&amp;") written in the
    language `code` (default: the active one): "Hatcher y Gillaspy", "Baldwin, Wampold e Imel", "Hatcher i
    Gillaspy"; unchanged in English."""
    code = code or language()
    if code not in CONJUNCTIONS:
        return text
    return AUTHORS_AND.sub(lambda m: f" {conjunction_before(text[m.end():], code)} ", text)


def parenthetical(citation: str, code: str | None = None) -> str:
    """A narrative citation as APA writes it inside parentheses, with its authors' "&" in the language
    `code` (default: the active one; `local_authors`): "Hatcher & Gillaspy (2006)" is "Hatcher & Gillaspy,
    2006" ("Hatcher y Gillaspy, 2006" in Spanish); a citation of another form (a user's instrument's "our
    own form") as it is given."""
    found = NARRATIVE_CITATION.fullmatch(citation.strip())
    return local_authors(f"{found['authors']}, {found['year']}" if found else citation.strip(), code)


def source_words(source: str, studies: bool = True) -> str:
    """A benchmark's source, "Authors (year), 295 studies" (`alliance.models.effects.BENCHMARKS`), as it
    is cited inside parentheses: "Authors, year; 295 studies", the count of studies in the active language
    (without it when not `studies`)."""
    reference, _comma, count = source.rpartition(", ")
    number, _space, noun = count.partition(" ")
    if not reference or noun != "studies" or not number.isdigit():
        return parenthetical(source)
    if not studies:
        return parenthetical(reference)
    return _("{reference}; {n} studies").format(reference=parenthetical(reference),
                                                 n=format_count(int(number)))


STATUS_WORDS = {"fitted": N_("fitted"), "boundary": N_("fitted (a parameter at its boundary)"),
                "not_estimable": N_("not estimable"), "not_converged": N_("did not converge"),
                # Translators: (complete or quasi-complete) separation in a logistic model.
                "separation": N_("separation"), "refused": N_("not run")}


def status_word(status: str) -> str:
    """A planned model's status in words (`STATUS_WORDS`), translated."""
    return _(STATUS_WORDS[status])


def cell(value: object) -> str:
    """A text cell of a table read from CSV (missing = empty)."""
    return "" if pd.isna(value) else str(value)


def _reason(record: Mapping, column: str) -> tuple[str, bool]:
    """The reason of a record in the active language, and whether it is English left as it was written."""
    message = read_message(record.get(f"{column}_message"))
    if message is not None:
        return message.render(format_value), False
    return cell(record.get(column)), True


def reason_plain(record: Mapping, column: str = "reason") -> str:
    """`reason_words` as plain text, for a figure: the English of a record without a message unmarked."""
    return _reason(record, column)[0]


def footnote_mark(index: int) -> str:
    """Footnote marks a, b, ..., z, aa, ab, ..."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    if index < len(letters):
        return letters[index]
    return footnote_mark(index // len(letters) - 1) + letters[index % len(letters)]


def reason_words(record: Mapping, column: str = "reason") -> str | Markup:
    """The reason of a status record (a row of `status.csv` or of a psychometric table, a family's status,
    a sensitivity failure), or another text of a record kept the same way (its `flags`, a flow's `step`, a
    data warning's `report_message`), in the active language, from its message (`<column>_message`); a
    record without one (written before it was a message) gives its English `column`, marked as such
    (`foreign`)."""
    text, english = _reason(record, column)
    return foreign(text) if english else text


def reason_text(record: Mapping, column: str = "reason") -> str | Markup:
    """`reason_words` as a sentence: capitalised, with a full stop ("" without a reason)."""
    text, english = _reason(record, column)
    if not text:
        return ""
    sentence = f"{text[0].upper()}{text[1:]}."
    return foreign(sentence) if english else sentence


def note_words(note: str, message: Mapping | None = None) -> str | Markup:
    """A note in the active language, from its message (`Message.to_json` data); without one, its English
    `note`, marked as such (`foreign`)."""
    return foreign(note) if message is None else Message.from_json(message).render(format_value)


def shown_notes(notes: Sequence[str], messages: Sequence[Mapping | None] | None,
                left_out: Collection[str] = ()) -> list[tuple[str, Mapping | None]]:
    """Notes (English, each with its message data or None) without those saying that a covariate of
    `left_out` was left out (`alliance.models.common.left_out_covariate`): left out of every model, it is
    said once, in the methods."""
    pairs = zip(notes, messages or [None] * len(notes), strict=True)
    return [(note, message) for note, message in pairs
            if message is None or (left_out_covariate(message) or ("",))[0] not in left_out]


def notes_words(record: Mapping, column: str = "notes", left_out: Collection[str] = ()) -> list[str | Markup]:
    """The notes of a record (a family's result, the sensitivity summary) in the active language, from
    their messages (`<column>_message`, `alliance.models.common.notes_record`), else in English (marked);
    none on a covariate of `left_out` (`shown_notes`)."""
    notes = shown_notes(record.get(column, []), record.get(f"{column}_message"), left_out)
    return [note_words(note, message) for note, message in notes]


def fill(message: str, **values: object) -> str | Markup:
    """A translated `message` with `values` filled in: Markup, every other value escaped, when a value is
    Markup (text marked by `foreign`), so that the marked text stays intact in the page."""
    if any(isinstance(value, Markup) for value in values.values()):
        return escape(message).format(**values)
    return elided_format(message, **values)  # Catalan "de 1,38": "d'1,38"


def series(parts: list[str]) -> str:
    """"a and b", "a, b and c" in the active language."""
    if len(parts) < 2:
        return "".join(parts)
    return _("{first} and {last}").format(first=", ".join(parts[:-1]), last=parts[-1])


def join(parts, separator: str = " ") -> str | Markup:
    """`parts` joined, without the empty ones (Markup, the others escaped, when a part is Markup)."""
    parts = [part for part in parts if part]
    if any(isinstance(part, Markup) for part in parts):
        return Markup(escape(separator)).join(parts)
    return separator.join(parts)


class Deferred:
    """Text written when it is shown (`str`, or in a template), in the language active then: for text
    made before the report's language is set."""

    __slots__ = ("_write",)

    def __init__(self, write: Callable[[], str | Markup]) -> None:
        self._write = write

    def __str__(self) -> str:
        return str(self._write())

    def __html__(self) -> str:
        return str(escape(self._write()))

    def __repr__(self) -> str:
        return f"Deferred({str(self)!r})"
