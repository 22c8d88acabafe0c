"""The report's analysis sections: effects as APA rows, benchmarks, levels, sensitivity, truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alliance.errors import REPORTED
from alliance.ingest.privacy import is_reportable
from alliance.models.effects import ADJUSTED_FAMILIES
from alliance.models.plan import BY_KEY, PRIMARY_KEYS, effect_status, status_table
from alliance.report.format import (
    estimate_digits,
    format_ci,
    format_count,
    format_number,
    format_p,
    format_percent,
    format_unit,
    p_text,
)
from alliance.report.words import (
    HYPOTHESES,
    LEVEL_TEST_WORDS,
    MODEL_WORDS,
    OUTCOME_WORDS,
    SCALE_WORDS,
    STATUS_WORDS,
    cell,
    counted,
    effect_summary,
    phrase,
    predictor_definitions,
    predictor_label,
    reason_text,
)

SHARE_OUTCOMES = ("home practice",)  # outcomes that are shares (0-1): their effects in percentage points


def apa_row(row: pd.Series, early_window: int, min_cell_size: int, *, q_value: float = float("nan"),
            mark: str = "") -> dict:
    """One effect row formatted for an APA-style table (`mark`: the footnote marks of its model's status
    and flags), a share outcome in percentage points and a tiny estimate with two significant digits
    rather than as 0.00 (`estimate_digits`); an effect resting on fewer than `min_cell_size` patients (a
    per-discipline slope) shows no numbers."""
    if not is_reportable(int(row["n_patients"]), min_cell_size):
        hidden = f"suppressed (<{min_cell_size} patients)"
        return {"analysis": row["analysis"], "predictor": predictor_label(row["predictor"]),
                "scale": SCALE_WORDS.get(row["scale"], row["scale"]), "estimate": hidden, "se": "",
                "ci": "", "p": "", "q": "", "r": "", "n_obs": "", "n_patients": f"<{min_cell_size}",
                "n_therapists": "", "mark": mark}
    factor, scale = ((100.0, "percentage points") if row["outcome"] in SHARE_OUTCOMES
                     else (1.0, SCALE_WORDS.get(row["scale"], row["scale"])))
    digits = estimate_digits(factor * row["estimate"])  # the same decimals for estimate, SE and CI
    value = {column: format_number(factor * row[column], digits)
             for column in ("estimate", "std_error", "ci_low", "ci_high")}
    return {"mark": mark,
        "analysis": row["analysis"],
        "predictor": predictor_label(row["predictor"]),
        "scale": scale,
        "estimate": value["estimate"],
        "se": value["std_error"],
        "ci": f"[{value['ci_low']}, {value['ci_high']}]",
        "p": format_p(row["p_value"]),
        "q": format_p(q_value) if row["analysis"] in ADJUSTED_FAMILIES else "",
        "r": f"{format_unit(row['r'])} {format_ci(row['r_ci_low'], row['r_ci_high'], unit=True)}",
        "n_obs": format_count(row["n_obs"]),
        "n_patients": format_count(row["n_patients"]),
        "n_therapists": format_count(row["n_therapists"]),
    }


def benchmark_sentences(model_results: list[dict]) -> list[str]:
    """The like-for-like benchmark comparisons of the model families (`alliance.models.benchmarks`), one
    sentence each with its verdict, and why the effect rows get none."""
    sentences = []
    for result in model_results:
        row = result["extra"].get("benchmark")
        if row is None:
            continue
        bench = (format_unit(row["benchmark_value"], 3) if row["benchmark"] == "alliance_outcome"
                 else format_number(row["benchmark_value"]))
        if np.isfinite(row["benchmark_ci_low"]):
            bench += " " + format_ci(row["benchmark_ci_low"], row["benchmark_ci_high"], 3, unit=True)
        value = format_unit if row["benchmark"] == "alliance_outcome" else format_number
        unit = row["benchmark"] == "alliance_outcome"
        sentences.append(
            f"{row['metric'][0].upper()}{row['metric'][1:]}: {value(row['estimate'])} "
            f"{format_ci(row['ci_low'], row['ci_high'], unit=unit)} ({counted(row['n'], 'patient')}), "
            f"{row['verdict']} the benchmark {bench} ({row['source']}).")
    if not sentences:
        sentences.append("Neither benchmark's metric could be computed in these data (it needs the "
                         "fitted primary dropout model or the symptom-improvement model).")
    sentences.append("The effects in the figure are per SD of alliance and adjusted: partial standardised "
                     "slopes, latent correlations of logistic models and of Cox models. None is the metric "
                     "of a benchmark, so they are shown beside the alliance-outcome band without a verdict "
                     "(ANALYSIS_PLAN.md section 6).")
    return sentences


def logrank_sentence(logrank: dict) -> str:
    """The log-rank test across early-alliance tertiles, in words."""
    return (f"Retention after the early window differed across tertiles of early alliance: log-rank "
            f"chi2({logrank['df']}) = {format_number(logrank['statistic'])}, {p_text(logrank['p_value'])} "
            f"({counted(logrank['n_patients'], 'patient')}, {counted(logrank['events'], 'dropout')}). "
            "Exploratory; the curves are descriptive.")


def level_sentences(extra: dict) -> list[str]:
    """The Wald tests of the levels and moderation models, and the therapist variance components."""
    sentences = []
    for name, test in extra.get("level_tests", {}).items():
        words = LEVEL_TEST_WORDS.get(name, name.replace("_", " "))
        sentence = (f"Test that the {words}: chi2({test['df']}) = {format_number(test['statistic'])}, "
                    f"{p_text(test['p_value'])}.")
        if "therapist_reliability" in test:
            between, within = test["therapist_f_df"]
            sentence += (f" The therapist means differ beyond chance (F({between}, {within}) = "
                         f"{format_number(test['therapist_f'])}, {p_text(test['therapist_f_p'])}) and are "
                         "shrunken for their reliability (mean "
                         f"{format_unit(test['therapist_reliability'])}), so the therapist-level slope is "
                         "not attenuated.")
        sentences.append(sentence)
    if extra.get("therapist_variance") is not None:
        total = extra["therapist_variance"] + extra["residual_variance"]
        sentences.append(f"Therapist random-intercept variance {format_number(extra['therapist_variance'])} "
                         f"(residual {format_number(extra['residual_variance'])}; therapists account for "
                         f"{format_percent(extra['therapist_variance'] / total)} of the variance).")
    elif "therapist_variance" in extra:
        sentences.append("Therapist random-intercept variance: not estimable (no therapist has two analysed "
                         "patients).")
    if "therapist_correlation" in extra:
        sentences.append("Exchangeable working correlation of attendance within therapist (GEE): "
                         f"{format_number(extra['therapist_correlation'], 3)}.")
    if "home_practice_variance" in extra:
        parts = extra["home_practice_variance"]
        sentences.append("Home practice variance components: patient "
                         f"{format_number(parts['patient'], 4)}, residual "
                         f"{format_number(parts['residual'], 4)}.")
    return sentences


def ceiling_sentence(ceiling: dict) -> str:
    """The satisfaction ceiling check in words."""
    if ceiling.get("share_at_maximum") is None:
        return "The ceiling of the satisfaction total could not be checked (values outside its range)."
    verdict = "a ceiling effect" if ceiling["ceiling_effect"] else "no ceiling effect"
    sentence = (f"Ceiling check: {format_percent(ceiling['share_at_maximum'])} of the analysed patients are "
                f"at the maximum total ({ceiling['maximum']:g}); {verdict} by the 15% rule (Terwee et al. "
                "2007).")
    if ceiling["ceiling_effect"]:
        sentence += " The proportional-odds model (sensitivity) does not assume equal spacing at the top."
    return sentence


def family_sentences(extra: dict) -> list[str]:
    """The tests and checks of one family in words: log-rank, ceiling, levels and variance components."""
    sentences = [logrank_sentence(extra["logrank"])] if "logrank" in extra else []
    if "ceiling" in extra:
        sentences.append(ceiling_sentence(extra["ceiling"]))
    return sentences + level_sentences(extra)


def sensitivity_notes(result: dict) -> list[str]:
    """The sensitivity rule's notes, failures (with reasons), imputation summary and fitting notes."""
    notes = list(result.get("notes", []))
    notes += [f"Not fitted: {f['variant']} / {f['outcome']}: {f['reason']}"
              for f in result.get("failures", [])]
    imputation = result.get("multiple_imputation", {})
    imputed = ", ".join(imputation.get("imputed", []))
    for outcome, pooled in imputation.get("pooled", {}).items():
        notes.append(f"Multiple imputation ({outcome}): m = {pooled['m']}, fraction of missing information "
                     f"{format_number(pooled['lambda'])}; imputed: {imputed}.")
    notes += [f"{label}: {note}" for label, items in result.get("fit_notes", {}).items() for note in items]
    return notes


def sensitivity_rows(table: pd.DataFrame, min_cell_size: int) -> list[dict]:
    """The sensitivity table: each primary effect under each variant, formatted (small samples hidden)."""
    rows = []
    for _, row in table.iterrows():
        formatted = apa_row(row, early_window=0, min_cell_size=min_cell_size)
        rows.append({"outcome": row["outcome"], "variant": row["variant"], **formatted})
    return rows


def status_rows(status: pd.DataFrame) -> dict:
    """The status table of every planned model and sensitivity analysis, in words: `rows` with the
    status marked by footnotes for its reason and its flags, and the `footnotes` (mark, text), each text
    once."""
    footnotes: dict[str, str] = {}
    rows = []
    for _, row in status.iterrows():
        notes = [reason_text(row["reason"]), cell(row["flags"])]
        marks = ",".join(footnotes.setdefault(note, _mark(len(footnotes))) for note in notes if note)
        rows.append({"hypothesis": row["hypothesis"], "title": row["title"], "analysis": row["analysis"],
                     "status": STATUS_WORDS[row["status"]], "mark": marks})
    return {"rows": rows, "footnotes": [(mark, text) for text, mark in footnotes.items()]}


def _mark(index: int) -> str:
    """Footnote marks a, b, ..., z, aa, ab, ..."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return letters[index] if index < len(letters) else _mark(index // len(letters) - 1) + letters[index % 26]


def primary_summary(status: pd.DataFrame, effects: pd.DataFrame, early_window: int) -> list[dict]:
    """One paragraph per planned primary effect, estimated or not: its effect in words with any flag, or
    why it has no estimate."""
    summary = []
    for key in PRIMARY_KEYS:
        planned, row = BY_KEY[key], status.set_index("key").loc[key]
        if row["status"] in REPORTED:
            effect = effects[(effects["analysis"] == "primary") & (effects["outcome"] == planned.outcome)
                             & (effects["model"] == planned.model)].iloc[0]
            caveats = [reason_text(row["reason"]) if row["status"] == "boundary" else "", cell(row["flags"])]
            text = " ".join(part for part in (effect_summary(effect, early_window), *caveats) if part)
        else:
            text = f"No estimate ({STATUS_WORDS[row['status']]}): {reason_text(row['reason'])}"
        summary.append({"hypothesis": planned.hypothesis, "outcome": planned.outcome, "text": text})
    return summary


def _formulas(extra: dict) -> list[str]:
    """The formulas a family recorded, its own and those of its sub-models (e.g. H4, H4a, H4b)."""
    found = [value for key, value in extra.items() if key.endswith("formula")]
    found += [value["formula"] for value in extra.values() if isinstance(value, dict) and "formula" in value]
    return found


def _covariates(extra: dict) -> list[str]:
    """The covariates a family used (its own record, or its first sub-model's)."""
    if "covariates" in extra:
        return list(extra["covariates"])
    return next((list(value["covariates"]) for value in extra.values()
                 if isinstance(value, dict) and "covariates" in value), [])


def analysis_sections(
    model_results: list[dict], effects: pd.DataFrame, early_window: int, *, min_cell_size: int,
    multiplicity: pd.DataFrame | None = None, status: pd.DataFrame | None = None,
) -> list[dict]:
    """One section per model family: model, formula, covariates, notes, its APA table (with FDR q-values
    from `multiplicity` where given, and footnote marks for each row's status and flags), the planned
    models it could not estimate with their reasons, and its tests."""
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
        for _, row in rows.iterrows():
            marks = ""
            model_status = effect_status(status, row)
            if model_status is not None:
                boundary = model_status["status"] == "boundary"
                caveats = [reason_text(model_status["reason"]) if boundary else "",
                           cell(model_status["flags"])]
                for caveat in filter(None, caveats):
                    marks += footnotes.setdefault(caveat, _mark(len(footnotes)))
            formatted.append(apa_row(row, early_window, min_cell_size,
                                     q_value=q_values.get(tuple(row[k] for k in keys), float("nan")),
                                     mark=marks))
        missing = planned[planned["key"].isin(BY_KEY) & ~planned["status"].isin(REPORTED)]
        sections.append({
            "id": f"analysis-{family}",
            "family": family,
            "hypothesis": HYPOTHESES.get(family, ""),
            "outcome": "; ".join(phrase(OUTCOME_WORDS, o) for o in outcomes),
            "models": [(m, phrase(MODEL_WORDS, m)) for m in models],
            "formulas": _formulas(result["extra"]) or ["none fitted"],
            "covariates": ", ".join(_covariates(result["extra"])) or "none",
            "notes": result["notes"],
            "rows": formatted,
            "definitions": predictor_definitions(rows["predictor"], early_window),
            "footnotes": [(mark, text) for text, mark in footnotes.items()],
            "not_estimated": [f"{row['hypothesis']} ({row['title']}): {STATUS_WORDS[row['status']]}. "
                              f"{reason_text(row['reason'])}" for _, row in missing.iterrows()],
            "figures": ["kaplan_meier"] if "kaplan_meier" in result["extra"] else [],
            "tests": family_sentences(result["extra"]),
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
            "outcome": true["outcome"], "scale": SCALE_WORDS.get(true["scale"], true["scale"]),
            "generating": format_number(true["generating"], 3),
            "estimand": f"{format_number(true['estimand'], 3)} ({format_number(true['estimand_se'], 3)})",
            "estimate": f"{format_number(row['estimate'], 3)} ({format_number(row['std_error'], 3)})",
            "difference": format_number(row["estimate"] - true["estimand"], 3),
            "in_se": format_number((row["estimate"] - true["estimand"]) / row["std_error"]),
            "covered": "yes" if row["ci_low"] <= true["estimand"] <= row["ci_high"] else "no",
        })
    return rows
