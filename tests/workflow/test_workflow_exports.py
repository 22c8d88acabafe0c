"""The workflow on messy clinic and REDCap exports, read as they are through the config, up to the validated
tables: these must equal the validated tables of the same cohort given as plain CSV files, value for value
and type for type. Every later job reads only the validated tables, so the rest of such a run is the plain
run, which the default run (test_workflow.py) and the other cohorts check to the report."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from workflow_runs import (
    assert_validated_equal,
    digest,
    run_workflow,
    validated_as_csv,
)

from alliance.simulation.synthetic import synthesize

pytestmark = pytest.mark.slow


def test_a_messy_clinic_export_validates_to_the_plain_tables(root, default_config, tmp_path, wai_sr, csq8):
    """Spanish headers and values, an Excel sheet by name, Latin-1 with semicolons and decimal commas,
    Sí/No and Catalan cert/fals booleans, a BOM: read as they are through the config, inputs unchanged."""
    cfg = default_config["synthetic"] | {"n_patients": 400, "n_therapists": 32, "seed": 31,
                                         "truth_multiplier": 1}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, ["baseline_severity", "discipline"])
    expected = validated_as_csv(default_config, (patients, sessions, outcomes), tmp_path / "plain")
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
    done = run_workflow(root, work, config, "results/validated/validation_summary.json")
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
    assert (work / "results/validated/validation_report.html").exists()
    assert_validated_equal(work, expected)  # the decimal commas, Sí/No, cert/fals and Spanish names undone


def test_a_redcap_long_export_validates_to_the_plain_tables(root, default_config, tmp_path):
    """One REDCap export (a row per record and event) instead of three files; no synthetic truth used."""
    cfg = default_config["synthetic"] | {"n_patients": 300, "n_therapists": 24, "seed": 32,
                                         "truth_multiplier": 1}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, ["baseline_severity", "discipline"])
    expected = validated_as_csv(default_config, (patients, sessions, outcomes), tmp_path / "plain")
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
    done = run_workflow(root, work, config, "results/validated/validation_summary.json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (work / "data/synthetic").exists()
    assert_validated_equal(work, expected)  # the events' rows back as three tables, sessions in order
