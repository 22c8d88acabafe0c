"""The report's analysis sections: effects as APA rows, benchmarks, levels, sensitivity, truth."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

import pandas as pd

from alliance.errors import REPORTED
from alliance.i18n import N_, _, active_min_cell_size, pgettext
from alliance.ingest.privacy import SECONDARY, discloses, is_reportable, suppress_counts
from alliance.models.benchmarks import withheld
from alliance.models.common import left_out_covariate
from alliance.models.effects import ADJUSTED_FAMILIES
from alliance.models.plan import BY_KEY, PLANNED, PRIMARY_KEYS, PRIMARY_REFERENCE, effect_status, status_table
from alliance.report.format import (
    estimate_digits,
    format_ci,
    format_count,
    format_general,
    format_number,
    format_p,
    format_percent,
    format_unit,
    interval_digits,
    is_number,
    p_text,
)
from alliance.report.words import (
    HYPOTHESES,
    INVARIANCE_WORDS,
    LEVEL_F_TEST_WORDS,
    LEVEL_TEST_WORDS,
    MODEL_WORDS,
    OUTCOME_WORDS,
    Deferred,
    analysis_word,
    counted,
    effect_summary,
    family_name,
    fill,
    footnote_mark,
    foreign,
    join,
    note_words,
    notes_words,
    outcome_name,
    phrase,
    predictor_definitions,
    predictor_label,
    reason_text,
    reason_words,
    scale_word,
    shown_notes,
    source_words,
    status_word,
    suppressed_effect,
    variable_name,
)

SHARE_OUTCOMES = ("home practice",)  # outcomes that are shares (0-1): their effects in percentage points


def apa_row(row: pd.Series, early_window: int, min_cell_size: int, *, q_value: float = float("nan"),
            mark: str = "", counts_withheld: bool = False) -> dict:
    """One effect row formatted for an APA-style table (`mark`: the footnote marks of its model's status
    and flags), a share outcome in percentage points and a tiny estimate with two significant digits
    rather than as 0.00 (`estimate_digits`); an effect resting on fewer than `min_cell_size` patients (a
    per-discipline slope) shows no numbers, and one whose counts are `counts_withheld` (secondary
    suppression, `withheld_counts`) shows its estimate without them."""
    if not is_reportable(int(row["n_patients"]), min_cell_size):
        hidden = suppressed_effect(min_cell_size)
        return {"analysis": analysis_word(row["analysis"]), "predictor": predictor_label(row["predictor"]),
                "scale": scale_word(row["scale"]), "estimate": hidden, "se": "",
                "ci": "", "p": "", "q": "", "r": "", "n_obs": "", "n_patients": f"<{min_cell_size}",
                "n_therapists": "", "mark": mark}
    factor, scale = ((100.0, _("percentage points")) if row["outcome"] in SHARE_OUTCOMES
                     else (1.0, scale_word(row["scale"])))
    # the estimate never 0.00 when it is not 0; the SE and CI with the decimals their size needs (an
    # estimate of 0.00053 had given "0.21927 [-0.94292, 0.94399]")
    se = factor * row["std_error"]
    digits = interval_digits(factor * row["ci_low"], factor * row["ci_high"])
    value = {"estimate": format_number(factor * row["estimate"], estimate_digits(factor * row["estimate"])),
             "std_error": format_number(se, estimate_digits(se))}
    return {"mark": mark,
        "analysis": analysis_word(row["analysis"]),
        "predictor": predictor_label(row["predictor"]),
        "scale": scale,
        "estimate": value["estimate"],
        "se": value["std_error"],
        "ci": format_ci(factor * row["ci_low"], factor * row["ci_high"], digits),
        "p": format_p(row["p_value"]),
        "q": format_p(q_value) if row["analysis"] in ADJUSTED_FAMILIES else "",
        # r as APA writes a correlation, two decimals (".00" for .0026: the estimate beside it has the
        # digits; four here widened the Spanish and Catalan tables past 1280 px)
        "r": f"{format_unit(row['r'])} {format_ci(row['r_ci_low'], row['r_ci_high'], unit=True)}",
        **({column: pgettext("count", "suppressed") for column in ("n_obs", "n_patients", "n_therapists")}
           if counts_withheld else {"n_obs": format_count(row["n_obs"]),
                                    "n_patients": format_count(row["n_patients"]),
                                    "n_therapists": format_count(row["n_therapists"])}),
    }


def withheld_counts(rows: pd.DataFrame, min_cell_size: int) -> set:
    """The index labels of the per-group effect rows (predictor "alliance_early [nutrition]") whose counts
    are withheld by secondary suppression: the groups' patients sum to the model's, which its own row
    shows, so that one group below `min_cell_size` (whose row shows no numbers) would be the difference
    of the others; the next smallest group's counts are withheld with it (`suppress_counts`)."""
    grouped = rows[rows["predictor"].str.contains(" [", regex=False)]
    base = grouped["predictor"].str.split(" [", n=1, regex=False).str[0]
    withheld = set()
    for _key, group in grouped.groupby([grouped["outcome"], grouped["model"], grouped["analysis"], base]):
        shown = suppress_counts(group["n_patients"].astype(int), min_cell_size)
        withheld |= set(shown.index[shown == SECONDARY])
    return withheld


# A like-for-like benchmark comparison by its verdict (`alliance.models.benchmarks`).
BENCHMARK_SENTENCES = {
    "compatible with": N_("{metric}: {estimate} {ci} ({patients}), compatible with the benchmark {benchmark} "
                          "({source})."),
    "smaller than": N_("{metric}: {estimate} {ci} ({patients}), smaller than the benchmark {benchmark} "
                       "({source})."),
    "larger than": N_("{metric}: {estimate} {ci} ({patients}), larger than the benchmark {benchmark} "
                      "({source})."),
    "opposite to": N_("{metric}: {estimate} {ci} ({patients}), in the direction opposite to the benchmark "
                      "{benchmark} ({source})."),
}


def benchmark_sentences(model_results: list[dict], *, min_cell_size: int | None) -> list[str]:
    """The like-for-like benchmark comparisons of the model families (`alliance.models.benchmarks`), one
    sentence each with its verdict (without numbers where they would give a group of 1 to
    `min_cell_size` - 1 patients away), and why the effect rows get none."""
    sentences = []
    for result in model_results:
        row = result["extra"].get("benchmark")
        if row is None:
            continue
        bench = (format_unit(row["benchmark_value"], 3) if row["benchmark"] == "alliance_outcome"
                 else format_number(row["benchmark_value"]))
        if is_number(row["benchmark_ci_low"]):
            bench += " " + format_ci(row["benchmark_ci_low"], row["benchmark_ci_high"], 3, unit=True)
        value = format_unit if row["benchmark"] == "alliance_outcome" else format_number
        unit = row["benchmark"] == "alliance_outcome"
        metric = _(row["metric"])  # the metrics are marked in alliance.models.benchmarks
        if metric[1:2] not in (",", " "):  # "d, early alliance ...": a statistic's symbol keeps its case
            metric = f"{metric[0].upper()}{metric[1:]}"
        if withheld(row, min_cell_size):  # d and its CI would give a small group's size away (section 8)
            sentences.append(_("{metric}: withheld, as it rests on fewer than {k} patients, dropouts or "
                               "completers, whose number its value and CI would give away (benchmark "
                               "{benchmark}, {source}).").format(
                metric=metric, k=format_count(min_cell_size), benchmark=bench,
                source=source_words(row["source"])))
            continue
        values = {"metric": metric, "estimate": value(row["estimate"]),
                  "ci": format_ci(row["ci_low"], row["ci_high"], unit=unit),
                  "patients": counted(row["n"], "patient"), "benchmark": bench,
                  "source": source_words(row["source"])}
        if row["verdict"] in BENCHMARK_SENTENCES:
            sentences.append(_(BENCHMARK_SENTENCES[row["verdict"]]).format(**values))
        else:
            sentences.append(fill(_("{metric}: {estimate} {ci} ({patients}), {verdict} the benchmark "
                                    "{benchmark} ({source})."), verdict=foreign(row["verdict"]), **values))
    if not sentences:
        sentences.append(_("Neither benchmark's metric could be computed in these data (it needs the "
                           "fitted primary dropout model or the symptom-improvement model)."))
    sentences.append(_("The effects in the figure are per SD of alliance and adjusted: partial standardised "
                       "slopes, latent correlations of logistic models and of Cox models. None is the metric "
                       "of a benchmark, so they are shown beside the alliance-outcome band without a verdict "
                       "(ANALYSIS_PLAN.md section 6)."))
    return sentences


LOGRANK_SENTENCES = (
    N_("Retention after the early window differed across tertiles of early alliance: log-rank χ²({df}) = "
       "{statistic}, {p} ({patients}, {dropouts}). Exploratory; the curves are descriptive."),
    N_("Retention after the early window did not differ clearly across tertiles of early alliance: log-rank "
       "χ²({df}) = {statistic}, {p} ({patients}, {dropouts}). Exploratory; the curves are descriptive."),
)


def logrank_sentence(logrank: dict) -> str:
    """The log-rank test across early-alliance tertiles, in words: "differed" at p < .05 only (it had said
    so at p = .41)."""
    differed = logrank["p_value"] < 0.05
    return _(LOGRANK_SENTENCES[0 if differed else 1]).format(
        df=logrank["df"], statistic=format_number(logrank["statistic"]), p=p_text(logrank["p_value"]),
        patients=counted(logrank["n_patients"], "patient"),
        dropouts=counted(logrank["events"], "dropout", of=logrank["n_patients"]))


def invariance_caveat(level: str | None) -> str:
    """What measurement invariance across disciplines (its highest level, None where it could not be
    tested) says of a comparison of alliance slopes across disciplines (ANALYSIS_PLAN.md, section 3)."""
    if level is None:
        return _("Measurement invariance across disciplines could not be tested, so whether the alliance is "
                 "measured alike in every discipline, and the slopes comparable, is not known.")
    if level == "configural":
        return _("Measurement invariance across disciplines holds only at the configural level: the items do "
                 "not weigh the alliance alike in every discipline, so this comparison of slopes is not "
                 "interpretable.")
    return _("Measurement invariance across disciplines holds at the {level} level, so the slopes are "
             "comparable.").format(level=_(INVARIANCE_WORDS[level]))


def level_sentences(extra: dict, invariance: str | None = None) -> list[str]:
    """The Wald tests of the levels and moderation models (the discipline comparison with what
    `invariance`, the highest level across disciplines, says of it), and the therapist variance
    components."""
    sentences = []
    for name, test in extra.get("level_tests", {}).items():
        values = {"df": test["df"], "statistic": format_number(test["statistic"]),
                  "p": p_text(test["p_value"])}
        if name in LEVEL_F_TEST_WORDS and test.get("df_denom") is not None:
            sentence = _(LEVEL_F_TEST_WORDS[name]).format(df_denom=test["df_denom"], **values)
        elif name in LEVEL_TEST_WORDS:
            sentence = _(LEVEL_TEST_WORDS[name]).format(**values)
        else:
            sentence = _("Test that the {test}: χ²({df}) = {statistic}, {p}.").format(
                test=name.replace("_", " "), **values)
        if name == "equal_slopes_by_discipline":
            sentence += " " + invariance_caveat(invariance)
        if "therapist_reliability" in test:
            between, within = test["therapist_f_df"]
            sentence += " " + _(
                "The therapist means differ beyond chance, F({between}, {within}) = {f}, {p}, and are "
                "shrunken for their reliability (mean {reliability}), which reduces the attenuation of the "
                "therapist-level slope.").format(between=between, within=within,
                                                 f=format_number(test["therapist_f"]),
                                                 p=p_text(test["therapist_f_p"]),
                                                 reliability=format_unit(test["therapist_reliability"]))
        sentences.append(sentence)
    if extra.get("therapist_variance") is not None:
        total = extra["therapist_variance"] + extra["residual_variance"]
        sentences.append(_("Therapist random-intercept variance {variance} (residual {residual}; therapists "
                           "account for {share} of the variance).").format(
            variance=format_number(extra["therapist_variance"]),
            residual=format_number(extra["residual_variance"]),
            share=format_percent(extra["therapist_variance"] / total)))
    elif "therapist_variance" in extra:
        sentences.append(_("Therapist random-intercept variance: not estimable (no therapist has two "
                           "analysed patients)."))
    if "therapist_correlation" in extra:
        correlation = format_unit(extra["therapist_correlation"], 3)  # bounded by 1: no leading zero
        sentences.append(_("Exchangeable working correlation of attendance within therapist (GEE): "
                           "{correlation}.").format(correlation=correlation))
    if "home_practice_variance" in extra:
        parts = extra["home_practice_variance"]
        sentences.append(_("Home practice variance components: patient {patient}, residual {residual}."
                           ).format(patient=format_number(parts["patient"], 4),
                                    residual=format_number(parts["residual"], 4)))
    return sentences


def ceiling_sentence(ceiling: dict) -> str:
    """The satisfaction ceiling check in words; inside `suppressing_counts(k)` a share that gives 1 to
    k - 1 patients away, at the maximum or not, is said as "fewer than k" (ANALYSIS_PLAN.md, section 8)."""
    if ceiling.get("share_at_maximum") is None:
        return _("The ceiling of the satisfaction total could not be checked (values outside its range).")
    values = {"share": format_percent(ceiling["share_at_maximum"]),
              "maximum": format_general(ceiling["maximum"]), "rule": format_percent(0.15, 0)}
    at_maximum, n = ceiling["n_at_maximum"], ceiling["n"]
    if discloses(at_maximum, n, active_min_cell_size()):
        values["k"] = format_count(active_min_cell_size())
        if at_maximum < n - at_maximum and not ceiling["ceiling_effect"]:
            text = _("Ceiling check: fewer than {k} of the analysed patients are at the maximum total "
                     "({maximum}); no ceiling effect by the {rule} rule (Terwee et al., 2007).")
            return text.format(**values)
        if at_maximum < n - at_maximum:
            return " ".join([
                _("Ceiling check: fewer than {k} of the analysed patients are at the maximum total "
                  "({maximum}), yet at least {rule} of so few: a ceiling effect by that rule (Terwee et al., "
                  "2007).").format(**values),
                _("The proportional-odds model (sensitivity) does not assume equal spacing at the top.")])
        return " ".join([
            _("Ceiling check: all but fewer than {k} of the analysed patients are at the maximum total "
              "({maximum}); a ceiling effect by the {rule} rule (Terwee et al., 2007).").format(**values),
            _("The proportional-odds model (sensitivity) does not assume equal spacing at the top.")])
    if not ceiling["ceiling_effect"]:
        return _("Ceiling check: {share} of the analysed patients are at the maximum total ({maximum}); no "
                 "ceiling effect by the {rule} rule (Terwee et al., 2007).").format(**values)
    return " ".join([
        _("Ceiling check: {share} of the analysed patients are at the maximum total ({maximum}); a ceiling "
          "effect by the {rule} rule (Terwee et al., 2007).").format(**values),
        _("The proportional-odds model (sensitivity) does not assume equal spacing at the top.")])


def family_sentences(extra: dict, invariance: str | None = None) -> list[str]:
    """The tests and checks of one family in words: log-rank, ceiling, levels (`level_sentences`, with
    `invariance`) and variance components."""
    sentences = [logrank_sentence(extra["logrank"])] if "logrank" in extra else []
    if "ceiling" in extra:
        sentences.append(ceiling_sentence(extra["ceiling"]))
    return sentences + level_sentences(extra, invariance)


# The sensitivity analyses' names (`alliance.models.sensitivity`), their numbers as groups.
VARIANT_PATTERNS = [
    (re.compile(r"multiple imputation \(m = (?P<m>\d+)\)"), N_("multiple imputation (m = {m})")),
    (re.compile(r"early window k = (?P<k>\d+)"), N_("early window k = {k}")),
    (re.compile(r"winsorized alliance \((?P<lower>[\d.]+)th/(?P<upper>[\d.]+)th percentiles\)"),
     N_("winsorized alliance ({lower}th/{upper}th percentiles)")),
    (re.compile(r"cluster bootstrap \(B = (?P<draws>\d+)\)"), N_("cluster bootstrap (B = {draws})")),
    (re.compile(re.escape(PRIMARY_REFERENCE)), N_("complete cases (primary)")),
    (re.compile(r"proportional odds \(ceiling\)"), N_("proportional odds (ceiling)")),
]


def variant_label(variant: str) -> str:
    """A sensitivity analysis by name (as English, marked, when its name is not one of the known ones)."""
    for pattern, message in VARIANT_PATTERNS:
        match = pattern.fullmatch(variant)
        if match:
            return _(message).format(**{name: format_general(float(value)) if "." in value else value
                                        for name, value in match.groupdict().items()})
    return foreign(variant)


def _fit_label(label: str) -> str:
    """A sensitivity fit's label, "variant / outcome", in words."""
    variant, separator, outcome = label.rpartition(" / ")
    return join([variant_label(variant), outcome_name(outcome)], " / ") if separator else foreign(label)


def covariates_left_out(model_results: Sequence[Mapping],
                        configured: Sequence[str]) -> dict[str, Mapping | None]:
    """The configured covariates that no model used, where some family recorded the covariates it used,
    each with the reason a model's note gives (`left_out_covariate`: message data; None where no note
    says). The methods say each once; the notes of the families and the sensitivity analyses leave them
    out (`shown_notes`)."""
    recorded = [names for result in model_results
                if (names := family_covariates(result.get("extra", {}))) is not None]
    if not recorded:
        return {}
    used = {name for names in recorded for name in names}
    reasons: dict[str, Mapping] = {}
    for result in model_results:
        for note in result.get("notes_message") or []:
            if (found := left_out_covariate(note)) is not None:
                reasons.setdefault(*found)
    return {name: reasons.get(name) for name in configured if name not in used}


def sensitivity_notes(result: dict, left_out: Collection[str] = (),
                      said: Sequence[Mapping] = ()) -> list[Deferred]:
    """The sensitivity rule's notes, failures (with reasons), imputation summary and fitting notes: each
    written when the report shows it (`Deferred`), in the report's language (from their messages:
    `notes_message`, `fit_notes_message`); none that says a covariate of `left_out` was left out
    (`shown_notes`), and no fitting note that is one of the messages `said` in the families' notes (the
    complete-case refit repeats its primary model's notes word for word)."""
    notes = [Deferred(lambda note=note, message=message: note_words(note, message))
             for note, message in shown_notes(result.get("notes", []), result.get("notes_message"), left_out)]
    notes += [Deferred(lambda f=f: fill(_("Not fitted: {variant} / {outcome}: {reason}"),
                                        variant=variant_label(f["variant"]),
                                        outcome=outcome_name(f["outcome"]), reason=reason_words(f)))
              for f in result.get("failures", [])]
    imputation = result.get("multiple_imputation", {})
    imputed = imputation.get("imputed", [])
    for outcome, pooled in imputation.get("pooled", {}).items():
        notes.append(Deferred(lambda outcome=outcome, pooled=pooled: _(
            "Multiple imputation ({outcome}): m = {m}, fraction of missing information {fraction}; imputed: "
            "{imputed}.").format(outcome=outcome_name(outcome), m=pooled["m"],
                                 fraction=format_number(pooled["lambda"]),
                                 imputed=", ".join(map(variable_name, imputed)))))
    fit_messages = result.get("fit_notes_message", {})
    notes += [Deferred(lambda label=label, note=note, message=message: fill(
                  "{label}: {note}", label=_fit_label(label), note=note_words(note, message)))
              for label, items in result.get("fit_notes", {}).items()
              for note, message in shown_notes(items, fit_messages.get(label), left_out)
              if message is None or message not in said]
    return notes


def sensitivity_rows(table: pd.DataFrame, min_cell_size: int) -> list[dict]:
    """The sensitivity table: each primary effect under each variant, formatted (small samples hidden)."""
    rows = []
    for _index, row in table.iterrows():
        formatted = apa_row(row, early_window=0, min_cell_size=min_cell_size)
        rows.append({"outcome": outcome_name(row["outcome"]), "variant": variant_label(row["variant"]),
                     **formatted})
    return rows


TITLES = {planned.title for planned in PLANNED}
SENSITIVITY_TITLE = "sensitivity analysis: "  # alliance.models.plan.status_table's title of a variant


def planned_title(title: str) -> str:
    """A planned model's title (`alliance.models.plan`, where the titles are marked) or a sensitivity
    analysis's, in words."""
    if title in TITLES:
        return _(title)
    if title.startswith(SENSITIVITY_TITLE):
        variant = variant_label(title[len(SENSITIVITY_TITLE):])
        return fill(_("sensitivity analysis: {variant}"), variant=variant)
    return title


def status_rows(status: pd.DataFrame) -> dict:
    """The status table of every planned model and sensitivity analysis, in words: `rows` with the
    status marked by footnotes for its reason and its flags, and the `footnotes` (mark, text), each text
    once."""
    footnotes: dict[str, str] = {}
    rows = []
    for _index, row in status.iterrows():
        notes = [reason_text(row), reason_words(row, "flags")]
        marks = ",".join(footnotes.setdefault(note, footnote_mark(len(footnotes))) for note in notes if note)
        title = planned_title(row["title"])
        if row["hypothesis"] == "H5":  # its four parts per outcome: the outcome tells their rows apart
            title = fill(_("{title}: {outcome}"), title=title, outcome=outcome_name(row["outcome"]))
        rows.append({"hypothesis": row["hypothesis"], "title": title,
                     "analysis": analysis_word(row["analysis"]), "status": status_word(row["status"]),
                     "mark": marks})
    return {"rows": rows, "footnotes": [(mark, text) for text, mark in footnotes.items()]}


def primary_summary(status: pd.DataFrame, effects: pd.DataFrame, early_window: int, *,
                    min_cell_size: int) -> list[dict]:
    """One paragraph per planned primary effect, estimated or not: its effect in words with any flag, or
    why it has no estimate; an effect resting on fewer than `min_cell_size` patients is withheld, as in
    its table (`apa_row`)."""
    summary = []
    for key in PRIMARY_KEYS:
        planned, row = BY_KEY[key], status.set_index("key").loc[key]
        if row["status"] in REPORTED:
            effect = effects[(effects["analysis"] == "primary") & (effects["outcome"] == planned.outcome)
                             & (effects["model"] == planned.model)].iloc[0]
            if not is_reportable(int(effect["n_patients"]), min_cell_size):
                text = fill(_("The estimate is withheld: it rests on fewer than {k} patients (the minimum "
                              "cell size)."), k=format_count(min_cell_size))
                summary.append({"hypothesis": planned.hypothesis, "outcome": outcome_name(planned.outcome),
                                "text": text})
                continue
            caveats = [reason_text(row) if row["status"] == "boundary" else "", reason_words(row, "flags")]
            text = join([effect_summary(effect, early_window), *caveats])
        else:
            text = fill(_("No estimate ({status}): {reason}"), status=status_word(row["status"]),
                        reason=reason_text(row))
        summary.append({"hypothesis": planned.hypothesis, "outcome": outcome_name(planned.outcome),
                        "text": text})
    return summary


def _formulas(extra: dict) -> list[str]:
    """The formulas a family recorded, its own and those of its sub-models (e.g. H4, H4a, H4b)."""
    found = [value for key, value in extra.items() if key.endswith("formula")]
    found += [value["formula"] for value in extra.values() if isinstance(value, dict) and "formula" in value]
    return found


def family_covariates(extra: dict) -> list[str] | None:
    """The covariates a family used (its own record, or its first sub-model's; None where it has none)."""
    if "covariates" in extra:
        return list(extra["covariates"])
    return next((list(value["covariates"]) for value in extra.values()
                 if isinstance(value, dict) and "covariates" in value), None)


def analysis_sections(
    model_results: list[dict], effects: pd.DataFrame, early_window: int, *, min_cell_size: int,
    multiplicity: pd.DataFrame | None = None, status: pd.DataFrame | None = None,
    invariance: str | None = None, left_out: Collection[str] = (),
) -> list[dict]:
    """One section per model family: model, formula, covariates, notes, its APA table (with FDR q-values
    from `multiplicity` where given, and footnote marks for each row's status and flags), the planned
    models it could not estimate with their reasons, and its tests (the comparison across disciplines
    with what `invariance`, the highest level of measurement invariance across them, says of it). Its notes
    leave out those on the covariates of `left_out` (`covariates_left_out`), which the methods say once."""
    status = status_table(model_results) if status is None else status
    keys = ["outcome", "model", "predictor", "analysis"]
    q_values = ({} if multiplicity is None else
                {tuple(row[k] for k in keys): row["q_value"] for _, row in multiplicity.iterrows()})
    sections = []
    for result in model_results:
        family = result["family"]
        planned = status[status["family"] == family]
        outcomes = list(dict.fromkeys(planned["outcome"]))
        rows = effects[effects["outcome"].isin(outcomes)]
        models = list(dict.fromkeys(rows["model"]))
        footnotes: dict[str, str] = {}
        formatted = []
        withheld = withheld_counts(rows, min_cell_size)
        for index, row in rows.iterrows():
            marks = []
            model_status = effect_status(status, row)
            if model_status is not None:
                boundary = model_status["status"] == "boundary"
                caveats = [reason_text(model_status) if boundary else "", reason_words(model_status, "flags")]
                marks = [footnotes.setdefault(caveat, footnote_mark(len(footnotes)))
                         for caveat in filter(None, caveats)]
            formatted.append(apa_row(row, early_window, min_cell_size,
                                     q_value=q_values.get(tuple(row[k] for k in keys), float("nan")),
                                     mark=",".join(marks), counts_withheld=index in withheld))  # "b,a"
        missing = planned[planned["key"].isin(BY_KEY) & ~planned["status"].isin(REPORTED)]
        sections.append({
            "id": f"analysis-{family}",
            "family": family_name(family),
            "hypothesis": HYPOTHESES.get(family, ""),
            "outcome": "; ".join(phrase(OUTCOME_WORDS, o) for o in outcomes),
            "models": [(m, phrase(MODEL_WORDS, m)) for m in models],
            # Translators: no formula, as no model of the family was fitted.
            "formulas": _formulas(result["extra"]) or [_("none fitted")],
            # Translators: no covariates (covariables: feminine).
            "covariates": ", ".join(map(variable_name, family_covariates(result["extra"]) or []))
            or pgettext("covariates", "none"),
            "notes": notes_words(result, left_out=left_out),
            "rows": formatted,
            "definitions": predictor_definitions(rows["predictor"], early_window),
            "footnotes": [(mark, text) for text, mark in footnotes.items()],
            "not_estimated": [fill(_("{hypothesis} ({title}): {status}. {reason}"),
                                   hypothesis=row["hypothesis"], title=planned_title(row["title"]),
                                   status=status_word(row["status"]), reason=reason_text(row))
                              for _index, row in missing.iterrows()],
            "figures": ["kaplan_meier"] if "kaplan_meier" in result["extra"] else [],
            "tests": family_sentences(result["extra"], invariance),
        })
    return sections


def truth_rows(truth: dict, effects: pd.DataFrame) -> list[dict]:
    """Each true effect of the synthetic cohort beside the primary estimate."""
    rows = []
    for true in truth["effects"]:
        match = effects[(effects["outcome"] == true["outcome"]) & (effects["predictor"] == true["predictor"])
                        & (effects["analysis"] == "primary")]
        if match.empty:
            continue
        row = match.iloc[0]
        rows.append({
            "outcome": outcome_name(true["outcome"]), "scale": scale_word(true["scale"]),
            "generating": format_number(true["generating"], 3),
            "estimand": f"{format_number(true['estimand'], 3)} ({format_number(true['estimand_se'], 3)})",
            "estimate": f"{format_number(row['estimate'], 3)} ({format_number(row['std_error'], 3)})",
            "difference": format_number(row["estimate"] - true["estimand"], 3),
            "in_se": format_number((row["estimate"] - true["estimand"]) / row["std_error"]),
            # Translators: whether the 95% CI covers the estimand (a table cell).
            "covered": _("yes") if row["ci_low"] <= true["estimand"] <= row["ci_high"] else _("no"),
        })
    return rows
