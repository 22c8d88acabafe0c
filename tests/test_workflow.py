"""The whole Snakemake workflow, run in temporary folders on small cohorts."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from alliance.browser import check_page
from alliance.outputs import FIGURES
from alliance.synthetic import synthesize

pytestmark = pytest.mark.slow
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
TABLES = ("patients", "sessions", "outcomes")


def run_workflow(root: Path, work: Path, config: dict, *extra: str) -> subprocess.CompletedProcess:
    (work / "test_config.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run(
        # Targets and flags first: --configfile takes every word after it.
        [str(SNAKEMAKE), *extra, "--snakefile", str(root / "Snakefile"), "--directory", str(work),
         "--cores", "2", "--configfile", str(work / "test_config.yaml")],
        capture_output=True, text=True, timeout=900,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_recovers_truth(effects: pd.DataFrame, truth: dict) -> None:
    primary = effects[effects["analysis"] == "primary"].set_index("outcome")
    assert list(primary.index) == ["attendance", "dropout", "satisfaction"]
    assert list(primary["predictor"]) == ["alliance_early", "alliance_early", "alliance_mean"]
    numbers = primary.select_dtypes("number").to_numpy(dtype=float)
    assert np.isfinite(numbers).all()
    for true in truth["effects"]:
        if true["outcome"] not in primary.index:  # the truth also holds secondary (symptom) estimands
            continue
        row = primary.loc[true["outcome"]]
        assert row["scale"] == true["scale"]
        assert abs(row["estimate"] - true["estimand"]) < 3 * row["std_error"], (true, row.to_dict())


SMALL = {"synthetic": {"n_patients": 600, "n_therapists": 40, "truth_multiplier": 10, "seed": 5}}


@pytest.fixture(scope="module")
def default_run(root, tmp_path_factory):
    work = tmp_path_factory.mktemp("default_run")
    done = run_workflow(root, work, SMALL)
    assert done.returncode == 0, done.stderr[-3000:]
    return work


def test_run_writes_effects_report_and_figures(default_run):
    effects = pd.read_csv(default_run / "results/effects.csv")
    truth = yaml.safe_load((default_run / "data/synthetic/truth.json").read_text())
    assert_recovers_truth(effects, truth)
    report = (default_run / "results/report.html").read_text()
    assert "<html" in report and "data:image/png;base64" in report
    for name in ("alliance_trajectories", "subscale_distributions", "forest_plot"):
        for ext in ("png", "svg"):
            assert (default_run / f"results/figures/{name}.{ext}").stat().st_size > 1000
    for step in ("validate", "score", "psychometrics", "features", "fit_models_dropout", "report"):
        assert (default_run / f"results/logs/{step}.log").exists()
    reliability = pd.read_csv(default_run / "results/psychometrics/reliability.csv")
    totals = reliability[reliability["scale"] == "total"].set_index("instrument")
    assert totals.loc["wai_sr", "alpha"] > 0.8 and totals.loc["csq8", "alpha"] > 0.7
    fit = pd.read_csv(default_run / "results/psychometrics/cfa_fit.csv").set_index("model")
    assert fit.loc["correlated_factors", "cfi"] > fit.loc["one_factor", "cfi"]
    shares = pd.read_csv(default_run / "results/features/rupture_shares.csv")
    assert shares["n"].sum() == 600
    patients = pd.read_parquet(default_run / "results/features/patients.parquet")
    assert set(patients["rupture_pattern"]) <= set(shares["pattern"])


def test_rerun_is_byte_identical(root, default_run):
    outputs = sorted(p for p in (default_run / "results").rglob("*")
                     if p.is_file() and p.suffix in (".csv", ".parquet", ".json", ".html", ".png", ".svg"))
    before = {p: digest(p) for p in outputs}
    done = run_workflow(root, default_run, SMALL, "--forceall")
    assert done.returncode == 0, done.stderr[-3000:]
    assert {p: digest(p) for p in outputs} == before


def test_another_cohort_in_other_formats(root, default_config, tmp_path):
    cfg = default_config["synthetic"] | {"n_patients": 500, "n_therapists": 36, "seed": 99,
                                         "truth_multiplier": 10}
    patients, sessions, outcomes, truth = synthesize(cfg, 3, ["baseline_severity", "discipline"])
    data = tmp_path / "clinic_export"
    data.mkdir()
    sessions["attended"] = sessions["attended"].map({1: "yes", 0: "no"})
    sessions["room"] = "A"  # outside the contract: ignored
    patients.to_parquet(data / "patients.parquet", index=False)
    sessions.to_csv(data / "sessions.tsv", sep="\t", index=False)
    outcomes.to_excel(data / "outcomes.xlsx", index=False)
    config = {"data": {"patients": str(data / "patients.parquet"),
                       "sessions": str(data / "sessions.tsv"),
                       "outcomes": str(data / "outcomes.xlsx")}}
    work = tmp_path / "work"
    work.mkdir()
    done = run_workflow(root, work, config)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (work / "data/synthetic").exists()  # nothing synthesised for a user's data
    report = (work / "results/report.html").read_text()
    assert 'id="truth"' not in report  # no truth table for a user's data
    assert_recovers_truth(pd.read_csv(work / "results/effects.csv"), truth)
    summary = yaml.safe_load((work / "results/validated/validation_summary.json").read_text())
    assert summary["tables"]["sessions"]["ignored_columns"] == ["room"]


def test_bad_input_stops_with_a_clear_message_and_writes_nothing(root, default_config, tmp_path):
    cfg = default_config["synthetic"] | {"n_patients": 60, "n_therapists": 6, "truth_multiplier": 1}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, ["baseline_severity"])
    sessions = sessions.astype({"wai_sr_05": "float"})
    sessions.loc[4, "wai_sr_05"] = 7
    patients["contact_email"] = "someone@example.org"
    for name, table in zip(TABLES, (patients, sessions, outcomes), strict=True):
        table.to_csv(tmp_path / f"{name}.csv", index=False)
    config = {"data": {name: str(tmp_path / f"{name}.csv") for name in TABLES}}
    work = tmp_path / "work"
    work.mkdir()
    done = run_workflow(root, work, config)
    assert done.returncode != 0
    message = done.stderr
    assert "Input validation failed" in message
    assert "sessions.csv" in message and "wai_sr_05" in message
    assert f"rows 5 (patient_id {sessions.loc[4, 'patient_id']})" in message
    assert "contact_email" in message and "e-mail" in message
    assert "someone@example.org" not in message
    assert "someone@example.org" not in (work / "results/logs/validate.log").read_text()
    assert not (work / "results/effects.csv").exists()
    assert not (work / "results/report.html").exists()
    assert not list((work / "results").glob("validated/*.parquet"))


def test_notebooks_run_on_the_results(root, default_run):
    for notebook in sorted((root / "notebooks").glob("*.py")):
        done = subprocess.run([sys.executable, str(notebook)], cwd=default_run, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, f"{notebook.name}: {done.stderr[-2000:]}"
        assert "patients" in done.stdout


def test_snakemake_report_has_every_figure_and_table(root, default_run):
    target = default_run / "results/snakemake-report.zip"
    done = run_workflow(root, default_run, SMALL, "--report", str(target))
    assert done.returncode == 0, done.stderr[-3000:]
    with zipfile.ZipFile(target) as archive:
        names = "\n".join(archive.namelist())
    for name in ("effects.csv", "report.html", "alliance_trajectories.png", "forest_plot.png",
                 "subscale_distributions.png"):
        assert name in names


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"synthetic": {"sessions_planned": [3, 10]}}, "synthetic.sessions_planned starts at 3"),
        ({"privacy": {"min_cell_size": 0}}, "min_cell_size"),
        ({"models": {"covariate": ["discipline"]}}, "covariate"),
        ({"ruptures": {"criterion": "2sd"}}, "criterion"),
    ],
)
def test_bad_config_stops_with_a_clear_message(root, tmp_path, config, message):
    done = run_workflow(root, tmp_path, config)
    assert done.returncode != 0
    assert message in done.stderr
    assert not (tmp_path / "results/effects.csv").exists()


def synthetic_tables(default_config, **changes) -> tuple:
    cfg = default_config["synthetic"] | {"n_patients": 300, "n_therapists": 24, "truth_multiplier": 1}
    return synthesize(cfg | changes, 3, ["baseline_severity", "discipline"])[:3]


def test_srs_cohort_with_a_concern_cut_off(root, default_config, tmp_path, wai_sr):
    """The SRS (decimal items 0-10) as the alliance instrument, 36 itself flagged."""
    patients, sessions, outcomes = synthetic_tables(default_config, seed=21)
    wai = sessions[wai_sr.item_columns].astype(float)
    for i, members in enumerate(([1, 2], [3, 5], [4, 6], [7, 8, 9]), start=1):
        columns = [wai_sr.item_column(m) for m in members]
        sessions[f"srs_{i:02d}"] = (wai[columns].mean(axis=1) * 2).round(1)
    sessions = sessions.drop(columns=wai_sr.item_columns)
    for name, table in zip(TABLES, (patients, sessions, outcomes), strict=True):
        table.to_csv(tmp_path / f"{name}.csv", index=False)
    config = {"data": {name: str(tmp_path / f"{name}.csv") for name in TABLES},
              "instruments": {"alliance": "srs", "cutoff_inclusive": True}}
    work = tmp_path / "work"
    work.mkdir()
    done = run_workflow(root, work, config)
    assert done.returncode == 0, done.stderr[-3000:]
    scores = pd.read_parquet(work / "results/scores/session_scores.parquet")
    scored = scores[scores["alliance_total"].notna()]
    assert scored["alliance_total"].between(0, 40).all()
    assert (scored["alliance_concern"] == (scored["alliance_total"].round(6) <= 36)).all()
    summary = yaml.safe_load((work / "results/scores/scoring_summary.json").read_text())
    assert summary["alliance"]["cutoff"] == {"value": 36.0, "inclusive": True,
                                             "sessions_flagged": int(scored["alliance_concern"].sum())}
    effects = pd.read_csv(work / "results/effects.csv")
    assert (effects["analysis"] == "primary").sum() == 3 and np.isfinite(effects["estimate"]).all()


def test_prescored_alliance_with_a_therapist_rater(root, default_config, tmp_path, wai_sr):
    patients, sessions, outcomes = synthetic_tables(default_config, seed=22)
    spec = yaml.safe_load((root / "workflow/alliance/instruments/wai_sr.yaml").read_text())
    (tmp_path / "wai_sr_t.yaml").write_text(yaml.safe_dump(spec | {"key": "wai_sr_t"}))
    items = sessions[wai_sr.item_columns].astype(float)
    for item in range(1, 13):  # therapists rate one point lower, within the scale
        sessions[f"wai_sr_t_{item:02d}"] = (items[wai_sr.item_column(item)] - 1).clip(1, 5)
    for name, members in wai_sr.subscales.items():
        sessions[f"alliance_{name}"] = items[[wai_sr.item_column(m) for m in members]].mean(axis=1)
    sessions["alliance_total"] = sessions[[f"alliance_{n}" for n in wai_sr.subscales]].mean(axis=1)
    sessions = sessions.drop(columns=wai_sr.item_columns)
    for name, table in zip(TABLES, (patients, sessions, outcomes), strict=True):
        table.to_csv(tmp_path / f"{name}.csv", index=False)
    config = {"data": {name: str(tmp_path / f"{name}.csv") for name in TABLES},
              "instruments": {"alliance_therapist": str(tmp_path / "wai_sr_t.yaml")}}
    work = tmp_path / "work"
    work.mkdir()
    done = run_workflow(root, work, config)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = yaml.safe_load((work / "results/scores/scoring_summary.json").read_text())
    assert not summary["alliance"]["item_level"] and summary["alliance"]["sessions_pre_scored"] > 1000
    assert summary["therapist_alliance"]["item_level"]
    notes = pd.read_csv(work / "results/psychometrics/notes.csv")
    assert notes["note"].str.contains("not possible").any()
    agreement = pd.read_csv(work / "results/psychometrics/agreement.csv").iloc[0]
    assert agreement["mean_difference"] == pytest.approx(1.0, abs=0.1)
    assert agreement["pearson_r"] > 0.8
    assert "not possible" in (work / "results/report.html").read_text()


def test_manifest_and_reproduce(root, default_run):
    manifest = json.loads((default_run / "results/manifest.json").read_text())
    outputs = manifest["outputs"]
    expected = {"effects.csv", "report.html", "figures/forest_plot.png", "models/multiplicity.csv"}
    assert expected <= set(outputs)
    assert not any(path.startswith(("logs/", "benchmarks/")) for path in outputs)
    assert outputs["effects.csv"]["sha256"] == digest(default_run / "results/effects.csv")
    assert set(manifest["inputs"]) == {"patients", "sessions", "outcomes", "truth"}
    assert manifest["config"]["synthetic"]["seed"] == 5
    assert manifest["environment"]["packages"]["statsmodels"]
    done = subprocess.run(
        [sys.executable, "-m", "alliance.reproduce", "--directory", str(default_run), "--snakefile",
         str(root / "Snakefile"), "--cores", "2", "--configfile", str(default_run / "test_config.yaml")],
        capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"Reproduced: all {len(outputs)} outputs byte-identical (")
    assert not (default_run / "results.previous").exists()


def test_report_renders_in_chromium(default_run, tmp_path):
    result = check_page(default_run / "results/report.html", tmp_path / "report.png")
    assert result.console == [] and result.broken == 0
    assert result.images == len(FIGURES)  # every figure, the synthetic-only example trajectories included
    assert (tmp_path / "report.png").stat().st_size > 50_000


def test_a_messy_clinic_export_end_to_end(root, default_config, tmp_path, wai_sr, csq8):
    """Spanish headers and values, an Excel sheet by name, Latin-1 with semicolons and decimal commas,
    Sí/No and Catalan cert/fals booleans, a BOM: read as they are through the config, inputs unchanged."""
    cfg = default_config["synthetic"] | {"n_patients": 400, "n_therapists": 32, "seed": 31,
                                         "truth_multiplier": 5}
    patients, sessions, outcomes, truth = synthesize(cfg, 3, ["baseline_severity", "discipline"])
    export = tmp_path / "export"
    export.mkdir()
    spanish = {"psychotherapy": "Psicoterapia", "physiotherapy": "Fisioterapia", "osteopathy": "Osteopatía",
               "nutrition": "Nutrición", "other": "Otra"}
    pacientes = patients.rename(columns={
        "patient_id": "Código paciente", "therapist_id": "Terapeuta", "site": "Centro",
        "discipline": "Disciplina", "baseline_severity": "Gravedad inicial",
        "sessions_planned": "Sesiones previstas"}).assign(Disciplina=patients["discipline"].map(spanish))
    with pd.ExcelWriter(export / "clinica.xlsx") as writer:
        notes = pd.DataFrame({"nota": ["exportado del sistema de citas"]})
        notes.to_excel(writer, sheet_name="Notas", index=False)
        pacientes.to_excel(writer, sheet_name="Pacientes", index=False)
    items = {c: f"WAI {int(c[-2:])}" for c in wai_sr.item_columns}
    sesiones = sessions.rename(columns={"patient_id": "Código paciente", "session": "Nº sesión",
                                        "attended": "Asistió", "home_practice": "Tareas en casa", **items})
    sesiones["Asistió"] = sessions["attended"].map({1: "Sí", 0: "No"})
    sesiones.to_csv(export / "sesiones.csv", sep=";", decimal=",", index=False, encoding="latin-1",
                    lineterminator="\r\n")
    resultats = outcomes.rename(columns={"patient_id": "Codi pacient", "dropout": "Abandonament"})
    resultats["Abandonament"] = outcomes["dropout"].map({1: "cert", 0: "fals"})
    resultats.to_csv(export / "resultats.tsv", sep="\t", index=False, encoding="utf-8-sig")
    before = {p.name: digest(p) for p in export.iterdir()}
    config = {"data": {
        "patients": str(export / "clinica.xlsx"), "sessions": str(export / "sesiones.csv"),
        "outcomes": str(export / "resultats.tsv"), "sheets": {"patients": "pacientes"},
        "columns": {"all": {"Código paciente": "patient_id", "Codi pacient": "patient_id"},
                    "patients": {"Terapeuta": "therapist_id", "Centro": "site", "Disciplina": "discipline",
                                 "Gravedad inicial": "baseline_severity",
                                 "Sesiones previstas": "sessions_planned"},
                    "sessions": {"Nº sesión": "session", "Asistió": "attended",
                                 "Tareas en casa": "home_practice", **{v: k for k, v in items.items()}},
                    "outcomes": {"Abandonament": "dropout"}},
        "values": {"discipline": {v: k for k, v in spanish.items()}},
    }}
    work = tmp_path / "work"
    work.mkdir()
    done = run_workflow(root, work, config)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Input validation passed" in done.stderr
    assert {p.name: digest(p) for p in export.iterdir()} == before  # inputs are never modified
    summary = yaml.safe_load((work / "results/validated/validation_summary.json").read_text())
    reading = summary["reading"]
    assert reading["patients"]["sheet"] == "Pacientes"
    assert reading["sessions"]["encoding"] == "latin-1 (detected: not valid UTF-8)"
    assert reading["sessions"]["delimiter"] == "semicolon (detected)"
    assert reading["sessions"]["decimal_comma_columns"] == ["Tareas en casa"]
    assert reading["outcomes"]["encoding"] == "utf-8 with byte-order mark"
    validated = pd.read_parquet(work / "results/validated/sessions.parquet")
    assert validated["home_practice"].max() <= 1 and validated["home_practice"].notna().any()
    assert (work / "results/validated/validation_report.html").exists()
    primary = [e for e in truth["effects"] if e["outcome"] in ("attendance", "dropout", "satisfaction")]
    assert_recovers_truth(pd.read_csv(work / "results/effects.csv"), truth | {"effects": primary})


def test_a_redcap_long_export_end_to_end(root, default_config, tmp_path):
    """One REDCap export (a row per record and event) instead of three files; no synthetic truth used."""
    cfg = default_config["synthetic"] | {"n_patients": 300, "n_therapists": 24, "seed": 32,
                                         "truth_multiplier": 1}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, ["baseline_severity", "discipline"])
    baseline = patients.rename(columns={"patient_id": "record_id", "therapist_id": "therapist"}).assign(
        redcap_event_name="baseline_arm_1", baseline_complete=2)
    visits = sessions.rename(columns={"patient_id": "record_id"}).assign(
        redcap_event_name=[f"session_{n}_arm_1" for n in sessions["session"]], session_complete=2
    ).drop(columns="session")
    end = outcomes.rename(columns={"patient_id": "record_id", "dropout": "drop_out"}).assign(
        redcap_event_name="end_arm_1", end_complete=2)
    export = pd.concat([baseline, visits, end], ignore_index=True)
    order = {"baseline_arm_1": 0, "end_arm_1": 10**6}
    export["_order"] = export["redcap_event_name"].map(
        lambda e: order.get(e, int(e.split("_")[1]) if e.startswith("session_") else 0))
    export = export.sort_values(["record_id", "_order"], kind="stable").drop(columns="_order")
    columns = ["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"]
    export = export.assign(redcap_repeat_instrument="", redcap_repeat_instance="")[
        columns + [c for c in export.columns if c not in columns]]
    path = tmp_path / "ALLIANCE_DATA_2026.csv"
    export.to_csv(path, index=False)
    config = {"data": {
        "redcap": {"file": str(path), "patients_events": ["baseline_arm_1"], "outcomes_events": ["end_arm_1"],
                   "session_events": r"session_(\d+)_arm_1"},
        "columns": {"patients": {"therapist": "therapist_id"}, "outcomes": {"drop_out": "dropout"}},
    }}
    work = tmp_path / "work"
    work.mkdir()
    done = run_workflow(root, work, config)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (work / "data/synthetic").exists()
    validated = pd.read_parquet(work / "results/validated/sessions.parquet")
    assert len(validated) == len(sessions)
    expected = sessions.sort_values(["patient_id", "session"])
    assert validated["session"].tolist() == expected["session"].tolist()
    effects = pd.read_csv(work / "results/effects.csv")
    assert (effects["analysis"] == "primary").sum() >= 3
