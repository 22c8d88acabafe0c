"""The self-contained HTML report: one file, figures embedded, no timestamps (byte-identical re-runs).

`build_report` turns the pipeline's outputs (summaries, tables, model results, effect rows, figure PNGs)
into display-ready values (formatted here, in Python) and renders `templates/report.html` (jinja2,
autoescaped). Nothing is estimated here: numbers come from the effect rows and the summaries.
"""

from __future__ import annotations

import base64
import platform
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import yaml

from alliance.errors import REPORTED
from alliance.figures import EXAMPLES_PER_PATTERN
from alliance.instruments import load_instrument
from alliance.models import adherence, dropout, satisfaction, survival, symptoms
from alliance.models.effects import (
    ADJUSTED_FAMILIES,
    BENCHMARKS,
)
from alliance.models.plan import BY_KEY, PRIMARY_KEYS, effect_status, status_table
from alliance.models.satisfaction import CEILING_SHARE
from alliance.outputs import FIGURES
from alliance.privacy import SECONDARY, is_reportable, suppress_counts
from alliance.report.downloads import add_csv_downloads
from alliance.report.format import (
    count_with_share,
    format_ci,
    format_count,
    format_number,
    format_p,
    format_percent,
    format_unit,
    p_text,
)
from alliance.report.measurement import measurement_section
from alliance.report.methods import methods_section
from alliance.scores import ALLIANCE_PREFIX, TOTAL, score_descriptives

REPO_ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("snakemake", "pandas", "numpy", "scipy", "statsmodels", "lifelines", "pingouin", "semopy",
            "pandera", "matplotlib", "seaborn", "pyarrow", "jinja2", "alliance")
HYPOTHESES = {"adherence": "H1", "dropout": "H2", "satisfaction": "H3", "symptoms": "H4"}
ANALYSIS_PLAN = "../ANALYSIS_PLAN.md"  # relative to results/report.html
OUTCOME_WORDS = {
    "attendance": "attendance at the sessions scheduled after the early window",
    "dropout": "dropout after the early window",
    "satisfaction": "satisfaction at the end of treatment",
    "session attendance": "attendance at each scheduled session",
    "home practice": "share of home practice done since the last session",
    "symptom_improvement": "symptom improvement from the first to the last session (first - last)",
    "symptoms_next": "symptoms at the next attended session",
    "alliance_next": "alliance at the next attended session",
}
PREDICTOR_WORDS = {
    "alliance_early": "early alliance (mean total over scored sessions 1 to {early_window})",
    "alliance_mean": "mean alliance over all scored sessions",
    "alliance_prev": "alliance at the previous scored session (time-varying)",
    "alliance_prev_within": "within-patient alliance: previous scored session minus the patient's mean",
    "alliance_between": "between-patient alliance: the patient's mean",
    "alliance_prev_deviation": "within-patient alliance: previous scored session minus the patient's mean "
                               "so far",
    "alliance_running_mean": "between-patient alliance: the patient's mean over the scored sessions so far",
    "rupture_before": "a rupture detected before the session (yes vs no)",
    "alliance_within": "within-patient alliance: this session minus the patient's mean",
    "symptom_improvement_within": "within-patient symptom improvement since the previous session",
    "symptom_improvement_between": "between-patient symptom improvement (the patient's mean)",
}
LEVEL_WORDS = {"_therapist": "therapist mean of {}", "_patient": "patient's deviation from the therapist "
                                                                 "mean of {}"}
SCALE_WORDS = {"log_odds": "log-odds", "log_hazard": "log-hazard", "points": "points"}
MODEL_WORDS = {
    adherence.MODEL: "binomial GLM (logit) of sessions attended out of sessions scheduled after the "
                     "early window, with therapist-cluster-robust standard errors",
    dropout.MODEL: "logistic GLM of dropout after the early window, with therapist-cluster-robust "
                   "standard errors",
    satisfaction.MODEL: "linear mixed model with a random intercept per therapist",
    survival.DISCRETE_MODEL: "discrete-time hazard (logistic, one row per session at risk, baseline hazard "
                             "per session) on the alliance of the previous scored session, with "
                             "therapist-cluster-robust standard errors",
    survival.COX_MODEL: "Cox model with time-varying alliance of the previous scored session in (start, "
                        "stop] form, with therapist-cluster-robust standard errors",
    survival.DISCRETE_SPLIT_MODEL: "discrete-time hazard as above with the previous alliance split into "
                                   "the patient's running mean and the deviation from it (no look-ahead)",
    survival.COX_SPLIT_MODEL: "Cox model as above with the previous alliance split into the patient's "
                              "running mean and the deviation from it (no look-ahead)",
    survival.RUPTURE_MODEL: "discrete-time hazard with a rupture before the session beside the previous "
                            "alliance, with therapist-cluster-robust standard errors",
    adherence.GEE_MODEL: "GEE (logit) on the sessions scheduled after the early window, exchangeable "
                         "correlation within therapist, robust standard errors (check of the primary model)",
    adherence.SESSION_MODEL: "logistic GLM of attending each session, baseline per session, with "
                             "therapist-cluster-robust standard errors",
    adherence.HOME_MODEL: "linear mixed model with a random intercept per patient, with "
                          "therapist-cluster-robust standard errors",
    symptoms.DYNAMIC_MODEL: "dynamic model with a patient random intercept and the first score and mean "
                            "alliance as regressors (Wooldridge 2005), the lagged outcome uncentred, "
                            "therapist-cluster-robust standard errors; r is a partial standardised slope, "
                            "not comparable with the bivariate benchmark",
}
LEVEL_TEST_WORDS = {
    "therapist_vs_patient": "therapist-level and patient-level alliance slopes are equal (Wald)",
    "equal_slopes_by_discipline": "alliance slopes are equal across disciplines (Wald)",
}
FIGURE_CAPTIONS = {
    "alliance_trajectories": "Mean alliance total (95% CI) by session and discipline, over attended, "
                             "scored sessions. Points resting on fewer than {k} patients are not shown.",
    "subscale_distributions": "Distributions of the alliance subscales and total over scored sessions, "
                              "with the share at the scale maximum (ceiling) and the skew.",
    "forest_plot": "Alliance effects as correlations (95% CI). Band: alliance-outcome benchmark r = "
                   "{r} {ci} ({source}), for orientation only: these r are adjusted, partial or latent "
                   "correlations, not the benchmark's metric (the comparisons below are).",
    "item_distributions": "Share of each answer per item (as answered), by subscale, on each patient's "
                          "first scored questionnaire; beside each bar, the share at the scale maximum "
                          "(after reverse keying; reverse-keyed items marked R).",
    "factor_loadings": "Standardized loadings of the correlated-factors model (when fitted) beside the "
                       "one-factor model (ML confirmatory factor analysis of each patient's first "
                       "questionnaire complete on all items); factor correlations above the plot.",
    "reliability_by_sessions": "Reliability of a patient's mean alliance total against the number of "
                               "sessions averaged (Spearman-Brown from the single-session patient ICC); "
                               "reference lines at .80 and .90.",
    "rupture_trajectories": "Alliance total by scored session for example patients of the synthetic cohort "
                            "(the first {examples} by id of each rupture pattern). Triangles down: "
                            "ruptures; triangles up: the session where the total returned to its "
                            "pre-rupture level (repair).",
    "marginal_effects": "Predicted outcome of each primary model (95% CI) across alliance from -2 to +2 SD, "
                        "with numeric covariates at their mean and categorical ones at their most frequent "
                        "level (therapist random effects at zero for the mixed model).",
    "therapist_caterpillar": "Each therapist's mean of their patients' mean alliance (95% CI), ranked and "
                             "not named; therapists with fewer than {k} patients with a score are not "
                             "shown.",
    "kaplan_meier": "Retention after the early window by tertile of early alliance (Kaplan-Meier with 95% "
                    "CIs, landmark at the end of the early window); curves stop where fewer than {k} "
                    "patients remain at risk.",
}


# ---- Inputs ------------------------------------------------------------------------------------


def git_commit(root: Path = REPO_ROOT) -> str:
    """`git rev-parse HEAD` of the repository, "unknown" when it cannot be read."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def package_version(name: str) -> str:
    """Installed version of a distribution, "not installed" when absent."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance(config: dict, validation: dict) -> dict:
    """Versions, Python, git commit, seed and input hashes: everything needed to re-run the report."""
    return {
        "versions": {name: package_version(name) for name in PACKAGES},
        "python": platform.python_version(),
        "commit": git_commit(),
        "seed": config["synthetic"]["seed"],
        "inputs": {table: dict(info) for table, info in sorted(validation["inputs"].items())},
    }


def embed_png(path: str | Path) -> str:
    """A PNG file as a data URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


# ---- Sections ----------------------------------------------------------------------------------


def _words(table: dict[str, str], key: str, **values: object) -> str:
    return table.get(key, key.replace("_", " ")).format(**values)


def predictor_words(predictor: str, early_window: int) -> str:
    """A predictor in words, including its therapist/patient parts and per-discipline slopes."""
    base, _, level = predictor.partition(" [")
    if level:
        return f"{predictor_words(base, early_window)}, {level.rstrip(']')} only"
    for suffix, words in LEVEL_WORDS.items():
        stem = base.removesuffix(suffix)
        if stem != base and stem in PREDICTOR_WORDS:
            return words.format(_words(PREDICTOR_WORDS, stem, early_window=early_window))
    return _words(PREDICTOR_WORDS, base, early_window=early_window)


def effect_summary(row: pd.Series, early_window: int) -> str:
    """One primary effect row in words: estimate per SD, 95% CI, p, r, and the sample."""
    predictor = predictor_words(row["predictor"], early_window)
    sentence = (
        f"Per SD of {predictor}, the estimate for {_words(OUTCOME_WORDS, row['outcome'])} was "
        f"{format_number(row['estimate'])} {SCALE_WORDS.get(row['scale'], row['scale'])} "
        f"(95% CI {format_number(row['ci_low'])} to {format_number(row['ci_high'])}, "
        f"{p_text(row['p_value'])})"
    )
    if row["scale"] == "log_odds":
        sentence += f", an odds ratio of {format_number(np.exp(row['estimate']))}"
    r_ci = format_ci(row["r_ci_low"], row["r_ci_high"], unit=True)
    sentence += (
        f"; as a correlation, r = {format_unit(row['r'])} {r_ci}"
        f" ({counted(row['n_obs'], 'observation')} of {counted(row['n_patients'], 'patient')} and "
        f"{counted(row['n_therapists'], 'therapist')})."
    )
    if row["ci_low"] > 0 or row["ci_high"] < 0:
        more = "more" if row["estimate"] > 0 else "less"
        sentence += f" A better alliance went with {more} {row['outcome']}; the CI excludes zero."
    else:
        sentence += " The CI includes zero."
    return sentence


def apa_row(row: pd.Series, early_window: int, min_cell_size: int, q_value: float = float("nan"),
            mark: str = "") -> dict:
    """One effect row formatted for an APA-style table (`mark`: the footnote marks of its model's status
    and flags); an effect resting on fewer than `min_cell_size` patients (a per-discipline slope) shows no
    numbers."""
    if not is_reportable(int(row["n_patients"]), min_cell_size):
        hidden = f"suppressed (<{min_cell_size} patients)"
        return {"analysis": row["analysis"], "predictor": predictor_words(row["predictor"], early_window),
                "scale": SCALE_WORDS.get(row["scale"], row["scale"]), "estimate": hidden, "se": "",
                "ci": "", "p": "", "q": "", "r": "", "n_obs": "", "n_patients": f"<{min_cell_size}",
                "n_therapists": "", "mark": mark}
    return {"mark": mark,
        "analysis": row["analysis"],
        "predictor": predictor_words(row["predictor"], early_window),
        "scale": SCALE_WORDS.get(row["scale"], row["scale"]),
        "estimate": format_number(row["estimate"]),
        "se": format_number(row["std_error"]),
        "ci": format_ci(row["ci_low"], row["ci_high"]),
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


def counted(n: int, noun: str) -> str:
    """A count with its noun in the right number: "1 therapist", "12 therapists"."""
    return f"{format_count(n)} {noun if n == 1 else noun + 's'}"


def shown_count(n: int, min_cell_size: int, of: int | None = None) -> str:
    """A count (with its share of `of`) for the report, or "<k" when it is 1 to k - 1."""
    if 0 < n < min_cell_size:
        return f"<{min_cell_size}"
    return count_with_share(n, of) if of is not None else format_count(n)


def flow_steps(flow: list[dict], min_cell_size: int) -> list[tuple[str, str]]:
    """A family's flow with small counts suppressed: the exclusion counts of each model as one table (with
    secondary suppression, since they sum to its cohort minus its analysed), the other steps one by one."""
    groups: dict[str, list[int]] = {}  # one table per model of the flow: the text before "excluded"
    for i, step in enumerate(flow):
        if "excluded" in step["step"]:
            groups.setdefault(step["step"].split("excluded")[0], []).append(i)
    shown = {}
    for rows in groups.values():
        hidden = suppress_counts(pd.Series([flow[i]["n"] for i in rows], dtype="int64"), min_cell_size)
        shown |= dict(zip(rows, hidden, strict=True))
    return [(step["step"], shown.get(i, shown_count(step["n"], min_cell_size)))
            for i, step in enumerate(flow)]


def cohort_section(
    session_scores: pd.DataFrame, features: pd.DataFrame, model_results: list[dict], scoring: dict,
    min_cell_size: int,
) -> dict:
    """Cohort flow, per-model exclusions, missing data and suppressed counts by discipline and site."""
    n_patients = len(features)
    attended = int(session_scores["attended"].sum())
    dropout_known = features["dropout"].notna()
    overview = [
        ("Patients", format_count(n_patients)),
        ("Therapists", format_count(features["therapist_id"].nunique())),
        ("Sites", format_count(features["site"].nunique())),
        ("Sessions scheduled", format_count(len(session_scores))),
        ("Sessions attended", count_with_share(attended, len(session_scores))),
        ("Dropouts (of patients with a recorded outcome)",
         shown_count(int(features.loc[dropout_known, "dropout"].astype(bool).sum()), min_cell_size,
                     int(dropout_known.sum()))),
        ("Dropout not recorded", shown_count(int((~dropout_known).sum()), min_cell_size)),
    ]
    groups = []
    for column, title in (("discipline", "Patients by discipline"), ("site", "Patients by site")):
        counts = features[column].astype("string").fillna("(missing)").value_counts().sort_index()
        shown = suppress_counts(counts, min_cell_size, total_shown=True)
        groups.append({"title": title, "rows": list(zip(shown.index, shown, strict=True)),
                       "total": format_count(n_patients)})
    flows = [{"family": result["family"], "hypothesis": HYPOTHESES.get(result["family"], ""),
              "steps": flow_steps(result["flow"], min_cell_size)}
             for result in model_results]
    sessions, patients = scoring["alliance"], scoring["satisfaction"]
    counts = [
        ("Attended sessions with an alliance questionnaire", sessions["sessions_with_answers"],
         sessions["sessions_attended"]),
        ("Attended sessions scored", sessions["sessions_scored"], sessions["sessions_attended"]),
        ("Scored sessions prorated (items missing)", sessions["sessions_prorated"],
         sessions["sessions_scored"]),
        ("Questionnaires unscorable (too many items missing)", sessions["sessions_unscorable"], None),
        ("Answers on missed sessions (ignored)", sessions["answers_on_missed_sessions_ignored"], None),
        ("Satisfaction scored from items", patients["scored_from_items"], patients["patients"]),
        ("Satisfaction pre-scored", patients["pre_scored"], None),
        ("Satisfaction prorated", patients["prorated"], None),
        ("Satisfaction missing", patients["missing"], patients["patients"]),
    ]
    missing = [(label, shown_count(n, min_cell_size, of)) for label, n, of in counts]
    return {"overview": overview, "groups": groups, "flows": flows, "missing": missing,
            "rule": f"Counts of 1 to {min_cell_size - 1} patients are shown as \"<{min_cell_size}\"; when a "
                    "single count of a table is suppressed, the next smallest count is also hidden "
                    f"(\"{SECONDARY}\") so that it cannot be recovered from the total. The same rule "
                    "applies to the exclusion counts of each model's flow (which sum to the cohort minus "
                    "the analysed) and to every other count of patients or sessions in this report."}


def input_tables(validation: dict) -> list[dict]:
    """Each input table: file name, rows, columns ignored (outside the contract) and optional ones absent."""
    return [{"table": table, "file": Path(info["file"]).name, "rows": format_count(info["rows"]),
             "ignored": ", ".join(info["ignored_columns"]) or "none",
             "absent": ", ".join(info["absent_optional_columns"]) or "none"}
            for table, info in validation["tables"].items()]


def alliance_section(session_scores: pd.DataFrame, scoring: dict, config: dict) -> dict:
    """Instrument, item keys per subscale and descriptives per subscale over scored sessions."""
    instrument = load_instrument(config["instruments"]["alliance"])
    described = score_descriptives(session_scores, instrument)
    rows = [{"score": score.removeprefix(ALLIANCE_PREFIX), "n": format_count(d["n"]),
             "mean": format_number(d["mean"]), "sd": format_number(d["sd"]),
             "ceiling": format_percent(d["ceiling_share"]), "skew": format_number(d["skew"])}
            for score, d in described.iterrows()]
    ceiling = described["ceiling_share"]
    return {
        "ceiling_effect": bool((ceiling > CEILING_SHARE).any()),
        "name": scoring["alliance"]["name"], "citation": scoring["alliance"]["citation"],
        "subscales": [(name, ", ".join(str(i) for i in items))
                      for name, items in scoring["alliance"]["subscales"].items()],
        "range": f"{format_number(instrument.minimum, 0)} to {format_number(instrument.maximum, 0)}",
        "descriptives": rows,
        "ceiling_text": f"{format_percent(ceiling.drop(TOTAL).min())} to "
                        f"{format_percent(ceiling.drop(TOTAL).max())} of scored sessions on a subscale "
                        f"and {format_percent(ceiling[TOTAL])} on the total",
    }


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


STATUS_WORDS = {"fitted": "fitted", "boundary": "fitted (variance at its boundary)",
                "not_estimable": "not estimable", "not_converged": "did not converge",
                "separation": "separation", "refused": "not run"}


def status_rows(status: pd.DataFrame) -> list[dict]:
    """The status table of every planned model and sensitivity analysis, in words."""
    return [{"hypothesis": row["hypothesis"], "title": row["title"], "analysis": row["analysis"],
             "status": STATUS_WORDS[row["status"]],
             "reason": " ".join(part for part in (_sentence(row["reason"]), _text(row["flags"])) if part)}
            for _, row in status.iterrows()]


def _text(value: object) -> str:
    """A text cell of a table read from CSV (missing = empty)."""
    return "" if pd.isna(value) else str(value)


def _sentence(value: object) -> str:
    """A reason as a sentence: capitalised, with a full stop."""
    text = _text(value)
    return f"{text[0].upper()}{text[1:]}." if text else ""


def primary_summary(status: pd.DataFrame, effects: pd.DataFrame, early_window: int) -> list[dict]:
    """One paragraph per planned primary effect, estimated or not: its effect in words with any flag, or
    why it has no estimate."""
    summary = []
    for key in PRIMARY_KEYS:
        planned, row = BY_KEY[key], status.set_index("key").loc[key]
        if row["status"] in REPORTED:
            effect = effects[(effects["analysis"] == "primary") & (effects["outcome"] == planned.outcome)
                             & (effects["model"] == planned.model)].iloc[0]
            caveats = [_sentence(row["reason"]) if row["status"] == "boundary" else "", _text(row["flags"])]
            text = " ".join(part for part in (effect_summary(effect, early_window), *caveats) if part)
        else:
            text = f"No estimate ({STATUS_WORDS[row['status']]}): {_sentence(row['reason'])}"
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
    model_results: list[dict], effects: pd.DataFrame, early_window: int, min_cell_size: int,
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
                caveats = [_sentence(model_status["reason"]) if model_status["status"] == "boundary" else "",
                           _text(model_status["flags"])]
                for caveat in filter(None, caveats):
                    marks += footnotes.setdefault(caveat, "abcdefghijklmnopqrstuvwxyz"[len(footnotes)])
            formatted.append(apa_row(row, early_window, min_cell_size,
                                     q_values.get(tuple(row[k] for k in keys), float("nan")), marks))
        missing = planned[planned["key"].isin(BY_KEY) & ~planned["status"].isin(REPORTED)]
        sections.append({
            "id": f"analysis-{family}",
            "family": family,
            "hypothesis": HYPOTHESES.get(family, ""),
            "outcome": "; ".join(_words(OUTCOME_WORDS, o) for o in outcomes),
            "models": [(m, _words(MODEL_WORDS, m)) for m in models],
            "formulas": _formulas(result["extra"]) or ["none fitted"],
            "covariates": ", ".join(_covariates(result["extra"])) or "none",
            "notes": result["notes"],
            "rows": formatted,
            "footnotes": [(mark, text) for text, mark in footnotes.items()],
            "not_estimated": [f"{row['hypothesis']} ({row['title']}): {STATUS_WORDS[row['status']]}. "
                              f"{_sentence(row['reason'])}" for _, row in missing.iterrows()],
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


def figure_captions(min_cell_size: int) -> dict[str, str]:
    """Caption of each figure, with the suppression threshold and the benchmarks filled in."""
    outcome = BENCHMARKS["alliance_outcome"]
    values = {
        "k": min_cell_size, "r": format_unit(outcome["r"], 3), "source": outcome["source"],
        "ci": format_ci(outcome["ci_low"], outcome["ci_high"], 3, unit=True),
        "examples": EXAMPLES_PER_PATTERN,
    }
    return {name: text.format(**values) for name, text in FIGURE_CAPTIONS.items()}


def build_report(
    *, config: dict, validation: dict, scoring: dict, session_scores: pd.DataFrame, features: pd.DataFrame,
    model_results: list[dict], effects: pd.DataFrame, psychometrics: Mapping[str, pd.DataFrame],
    rupture_shares: pd.DataFrame, figure_paths: Sequence[str | Path], truth: dict | None = None,
    min_cell_size: int, multiplicity: pd.DataFrame | None = None, sensitivity: pd.DataFrame | None = None,
    sensitivity_notes: Sequence[str] = (), status: pd.DataFrame | None = None,
) -> str:
    """The report as one self-contained HTML string (figures as data URIs, no timestamps).

    `psychometrics` holds the tables of results/psychometrics/ keyed by name; example trajectories are
    shown only with `truth` (the synthetic cohort).
    """
    figures = {Path(path).stem: embed_png(path) for path in figure_paths}
    missing = [name for name in FIGURES if name not in figures]
    if missing:
        raise ValueError(f"figure PNGs missing for: {', '.join(missing)}")
    captions = figure_captions(min_cell_size)
    provenance_info = provenance(config, validation)
    early_window = config["features"]["early_window"]
    status = status_table(model_results) if status is None else status
    context = {
        "summary": primary_summary(status, effects, early_window),
        "status": status_rows(status),
        "cohort": cohort_section(session_scores, features, model_results, scoring, min_cell_size),
        "tables": input_tables(validation),
        "data_warnings": [w["report_message"] for w in validation.get("warnings", [])],
        "alliance": alliance_section(session_scores, scoring, config),
        "measurement": measurement_section(psychometrics, rupture_shares, scoring, config, min_cell_size,
                                           synthetic=truth is not None),
        "methods": methods_section(config, model_results, provenance_info["versions"]),
        "analyses": analysis_sections(model_results, effects, early_window, min_cell_size, multiplicity,
                                      status),
        "sensitivity": (None if sensitivity is None else {
            "rows": sensitivity_rows(sensitivity, min_cell_size), "notes": list(sensitivity_notes)}),
        "benchmarks": benchmark_sentences(model_results),
        "truth": truth_rows(truth, effects) if truth else None,
        "n_therapists": counted(features["therapist_id"].nunique(), "therapist"),
        "figures": {name: {"src": figures[name], "caption": captions[name]} for name in FIGURES},
        "plan": ANALYSIS_PLAN,
        "provenance": provenance_info,
        "config_yaml": yaml.safe_dump(config, sort_keys=True, allow_unicode=True),
        "min_cell_size": min_cell_size,
    }
    return add_csv_downloads(_environment().get_template("report.html").render(**context))


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("alliance.report", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
