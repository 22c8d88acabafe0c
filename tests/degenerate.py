"""Valid but degenerate cohorts (issue 12) and the workflow's first stages run on them in-process.

Each builder in `COHORTS` takes the default config (config.yaml as a dict) and returns a `Cohort`: the
three contract tables, made from a small synthetic cohort (`alliance.simulation.synthetic.synthesize`, 120
patients of 12 therapists) and then changed, with the config overrides the cohort needs (merged over
config.yaml by `merge_config`). `run_stages` runs what the rules validate -> score -> psychometrics ->
features do, by calling the functions their scripts call, and writes and reads back every output as the
workflow does, under `<workdir>/results/` with the workflow's layout (so later stages can read them from
there).

The contract has no date column (exact dates are refused as identifying), so "monthly contacts" are fewer
numbered sessions over the same course: the early window then covers k months instead of k weeks.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd

from alliance.features.build import build_features
from alliance.ingest.contract import TABLES, Validated
from alliance.ingest.validation import run_validation
from alliance.instruments import load_configured
from alliance.io import read_tables, write_csv, write_json, write_parquet
from alliance.measurement.tables import measurement_tables, total_alpha
from alliance.outputs import PSYCHOMETRIC_TABLES
from alliance.scoring.scores import score_patients, score_sessions, scoring_summary
from alliance.simulation.synthetic import synthesize

HERE = Path(__file__).resolve().parent
SEVEN_POINT = HERE / "data" / "degenerate" / "wai_s_7point.yaml"  # pre-scored 7-point WAI-S-like form
BASE_PATIENTS, BASE_THERAPISTS, BASE_SEED = 120, 12, 12
# Light settings: the tests check that every stage copes, not the precision of the bootstrap CI.
LIGHT = {"psychometrics": {"bootstrap": 20}}
WAI_SR_SUBSCALES = ("task", "bond", "goal")


@dataclass
class Cohort:
    """The three contract tables (as a clinic would export them) and the config overrides they need."""

    patients: pd.DataFrame
    sessions: pd.DataFrame
    outcomes: pd.DataFrame
    config: dict = field(default_factory=dict)


@dataclass
class Stages:
    """What validate, score, psychometrics and features wrote, read back as the next rules read it.

    `psychometrics` holds the CSVs of results/psychometrics/ keyed by name (`read_tables`), `features`
    the patient features, `sessions` the session features; `results` is the folder holding them all.
    """

    config: dict
    validated: Validated
    validation_summary: dict
    session_scores: pd.DataFrame
    patient_scores: pd.DataFrame
    scoring: dict
    psychometrics: dict[str, pd.DataFrame]
    features: pd.DataFrame
    sessions: pd.DataFrame
    ruptures: pd.DataFrame
    rupture_shares: pd.DataFrame
    results: Path


def merge_config(base: dict, overrides: dict) -> dict:
    """`overrides` merged into a copy of `base`, mapping by mapping (as Snakemake merges --configfile)."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


_BASE: dict[tuple, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]] = {}


def base_tables(config: dict, n_patients: int = BASE_PATIENTS, n_therapists: int = BASE_THERAPISTS,
                seed: int = BASE_SEED) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Copies of a small synthetic cohort's three tables (drawn once per process and size)."""
    early_window = config["features"]["early_window"]
    key = (n_patients, n_therapists, seed, early_window)
    if key not in _BASE:
        synthetic = config["synthetic"] | {"n_patients": n_patients, "n_therapists": n_therapists,
                                           "seed": seed, "truth_multiplier": 1}
        _BASE[key] = synthesize(synthetic, early_window, config["models"]["covariates"])[:3]
    return tuple(table.copy() for table in _BASE[key])


def _cohort(patients: pd.DataFrame, sessions: pd.DataFrame, outcomes: pd.DataFrame,
            config: dict | None = None) -> Cohort:
    """A cohort restricted to the given patients' rows, with light settings under the overrides."""
    keep = patients["patient_id"]
    return Cohort(patients.reset_index(drop=True),
                  sessions[sessions["patient_id"].isin(keep)].reset_index(drop=True),
                  outcomes[outcomes["patient_id"].isin(keep)].reset_index(drop=True),
                  merge_config(LIGHT, config or {}))


def _item_columns(sessions: pd.DataFrame) -> list[str]:
    return [c for c in sessions.columns if c.startswith("wai_sr_")]


def no_satisfaction(config: dict) -> Cohort:
    """No satisfaction measure at all: neither CSQ-8 items nor a `satisfaction` column."""
    patients, sessions, outcomes = base_tables(config)
    return _cohort(patients, sessions, outcomes[["patient_id", "dropout"]])


def no_dropout(config: dict) -> Cohort:
    """Nobody dropped out."""
    patients, sessions, outcomes = base_tables(config)
    return _cohort(patients, sessions, outcomes.assign(dropout=0))


def all_attended(config: dict) -> Cohort:
    """Every scheduled session attended (sessions drawn as missed have no questionnaire)."""
    patients, sessions, outcomes = base_tables(config)
    return _cohort(patients, sessions.assign(attended=1), outcomes)


def two_therapists(config: dict) -> Cohort:
    """Two therapists share the clinic's patients."""
    patients, sessions, outcomes = base_tables(config)
    therapist = np.where(np.arange(len(patients)) % 2 == 0, "T001", "T002")
    return _cohort(patients.assign(therapist_id=therapist), sessions, outcomes)


def one_patient_per_therapist(config: dict) -> Cohort:
    """Every therapist has a single patient (the therapist variance is not identified)."""
    patients, sessions, outcomes = base_tables(config)
    therapist = [f"T{i + 1:03d}" for i in range(len(patients))]
    return _cohort(patients.assign(therapist_id=therapist), sessions, outcomes)


def no_early_alliance(config: dict) -> Cohort:
    """No alliance questionnaire answered in the early window (sessions 1..k)."""
    patients, sessions, outcomes = base_tables(config)
    early = sessions["session"] <= config["features"]["early_window"]
    sessions.loc[early, _item_columns(sessions)] = pd.NA
    return _cohort(patients, sessions, outcomes)


def twelve_patients(config: dict) -> Cohort:
    """A clinic of 12 patients: three therapists with four patients each."""
    patients, sessions, outcomes = base_tables(config)
    chosen = patients.iloc[::10].head(12)
    return _cohort(chosen.assign(therapist_id=[f"T{i % 3 + 1:03d}" for i in range(len(chosen))]),
                   sessions, outcomes)


def one_discipline_one_site(config: dict) -> Cohort:
    """One discipline and one site (the discipline covariate is constant)."""
    patients, sessions, outcomes = base_tables(config)
    return _cohort(patients.assign(discipline="psychotherapy", site="S1"), sessions, outcomes)


def patients_without_sessions(config: dict) -> Cohort:
    """Ten patients (every twelfth) have no session row at all."""
    patients, sessions, outcomes = base_tables(config)
    gone = patients["patient_id"].iloc[::12]
    return _cohort(patients, sessions[~sessions["patient_id"].isin(gone)], outcomes)


def monthly_contacts(config: dict) -> Cohort:
    """Monthly instead of weekly contacts: the same courses seen every fourth week, so each patient has
    a quarter of the sessions (weekly sessions 1, 5, 9, ... renumbered 1, 2, 3, ...)."""
    patients, sessions, outcomes = base_tables(config)
    monthly = sessions[(sessions["session"] - 1) % 4 == 0].copy()
    monthly["session"] = (monthly["session"] - 1) // 4 + 1
    planned = (patients["sessions_planned"] + 3) // 4
    return _cohort(patients.assign(sessions_planned=planned), monthly, outcomes)


def prescored_7_point_one_session(config: dict) -> Cohort:
    """Pre-scored subscale totals of a 7-point WAI-S-like form (a user instrument YAML), one session row
    per patient (the first), no item answers."""
    patients, sessions, outcomes = base_tables(config)
    first = sessions[sessions["session"] == 1].reset_index(drop=True)
    items = first[_item_columns(first)].astype(float)
    numbers = {"task": (1, 2, 10, 12), "bond": (3, 5, 7, 9), "goal": (4, 6, 8, 11)}
    scores = {name: 1 + (items[[f"wai_sr_{i:02d}" for i in members]].mean(axis=1) - 1) * 1.5
              for name, members in numbers.items()}  # 1-5 item means onto the 1-7 scale
    prescored = pd.DataFrame({f"alliance_{name}": scores[name].round(2) for name in WAI_SR_SUBSCALES})
    prescored["alliance_total"] = prescored.mean(axis=1, skipna=False).round(2)
    prescored = prescored.where(first["attended"].astype(bool))
    table = pd.concat([first[["patient_id", "session", "attended"]], prescored], axis=1)
    return _cohort(patients, table, outcomes, {"instruments": {"alliance": str(SEVEN_POINT)}})


def one_therapist(config: dict) -> Cohort:
    """A solo practice: one therapist sees every patient (no therapist level; the models' SEs are
    model-based and the therapist bootstrap has nothing to resample). A two-arm trial whose arms are its
    only two clusters runs end to end in tests/workflow/test_workflow_instruments.py."""
    patients, sessions, outcomes = base_tables(config)
    return _cohort(patients.assign(therapist_id="T001"), sessions, outcomes)


COHORTS: dict[str, Callable[[dict], Cohort]] = {
    "no_satisfaction": no_satisfaction,
    "no_dropout": no_dropout,
    "all_attended": all_attended,
    "two_therapists": two_therapists,
    "one_patient_per_therapist": one_patient_per_therapist,
    "no_early_alliance": no_early_alliance,
    "twelve_patients": twelve_patients,
    "one_discipline_one_site": one_discipline_one_site,
    "patients_without_sessions": patients_without_sessions,
    "monthly_contacts": monthly_contacts,
    "prescored_7_point_one_session": prescored_7_point_one_session,
    "one_therapist": one_therapist,
}


def variant(config: dict, therapists: int, patients_per_therapist: int, missing_share: float,
            attendance: str, dropout: str, seed: int) -> Cohort:
    """A small random degenerate clinic: `therapists` x `patients_per_therapist` patients drawn from the
    base cohort, a `missing_share` of the attended sessions without a questionnaire, and attendance and
    dropout each "all", "none" or "drawn" (as synthesized)."""
    patients, sessions, outcomes = base_tables(config)
    rng = np.random.default_rng(seed)
    n = therapists * patients_per_therapist
    chosen = patients.iloc[np.sort(rng.choice(len(patients), size=n, replace=False))]
    chosen = chosen.assign(therapist_id=[f"T{i % therapists + 1:03d}" for i in range(n)])
    sessions = sessions[sessions["patient_id"].isin(chosen["patient_id"])].reset_index(drop=True)
    blank = rng.random(len(sessions)) < missing_share
    sessions.loc[blank, _item_columns(sessions)] = pd.NA
    if attendance != "drawn":
        sessions["attended"] = int(attendance == "all")
    if dropout != "drawn":
        outcomes = outcomes.assign(dropout=int(dropout == "all"))
    return _cohort(chosen, sessions, outcomes)


def run_stages(cohort: Cohort, default_config: dict, workdir: Path) -> Stages:
    """Validate, score, psychometrics and features on `cohort` under `workdir` (see the module docstring).

    The tables are exported as CSV to `<workdir>/input/` and read as the validate rule reads them; data
    that fail validation raise its `ValidationError` (these cohorts are valid).
    """
    config = merge_config(default_config, cohort.config)
    results = workdir / "results"
    data = dict(config["data"])
    for table in TABLES:
        path = workdir / "input" / f"{table}.csv"
        write_csv(getattr(cohort, table), path)
        data[table] = str(path)
    instruments = load_configured(config["instruments"])
    outcome = run_validation(data, config["privacy"], instruments)
    if not outcome.passed:
        raise outcome.error()
    validated = outcome.validated
    summary = outcome.summary()
    for table in TABLES:
        write_parquet(getattr(validated, table), results / "validated" / f"{table}.parquet")
    write_json(summary, results / "validated" / "validation_summary.json")
    patients, sessions, outcomes = (pd.read_parquet(results / "validated" / f"{table}.parquet")
                                    for table in TABLES)

    session_scores = score_sessions(sessions, instruments["alliance"], instruments["therapist"])
    patient_scores = score_patients(outcomes, instruments["satisfaction"])
    scoring = scoring_summary(session_scores, patient_scores, instruments,
                              summary["tables"]["sessions"].get("answers_on_missed_sessions_ignored"))
    write_parquet(session_scores, results / "scores" / "session_scores.parquet")
    write_parquet(patient_scores, results / "scores" / "patient_scores.parquet")
    write_json(scoring, results / "scores" / "scoring_summary.json")
    session_scores = pd.read_parquet(results / "scores" / "session_scores.parquet")
    patient_scores = pd.read_parquet(results / "scores" / "patient_scores.parquet")

    tables = measurement_tables(patients, sessions, outcomes, session_scores=session_scores,
                                instruments=instruments,
                                settings=config["psychometrics"])
    paths = [results / "psychometrics" / f"{name}.csv" for name in PSYCHOMETRIC_TABLES]
    for name, path in zip(PSYCHOMETRIC_TABLES, paths, strict=True):
        write_csv(tables[name], path)
    psychometrics = read_tables(paths)

    alpha = total_alpha(pd.read_csv(results / "psychometrics" / "reliability.csv"))
    features = build_features(patients, outcomes, session_scores, patient_scores=patient_scores,
                              early_window=config["features"]["early_window"],
                              rupture_settings=config["ruptures"], total_alpha=alpha)
    for name in ("patients", "sessions", "ruptures"):
        write_parquet(features[name], results / "features" / f"{name}.parquet")
    write_csv(features["rupture_shares"], results / "features" / "rupture_shares.csv")
    return Stages(
        config=config, validated=validated, validation_summary=summary, session_scores=session_scores,
        patient_scores=patient_scores, scoring=scoring, psychometrics=psychometrics,
        features=pd.read_parquet(results / "features" / "patients.parquet"),
        sessions=pd.read_parquet(results / "features" / "sessions.parquet"),
        ruptures=pd.read_parquet(results / "features" / "ruptures.parquet"),
        rupture_shares=pd.read_csv(results / "features" / "rupture_shares.csv"), results=results,
    )


def visible_text(html: str) -> str:
    """The report's text without its embedded images, CSV downloads and configuration dump."""
    html = re.sub(r'(src|href)="data:[^"]*"', "", html)
    html = re.sub(r"<pre[^>]*>.*?</pre>", "", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))
