"""The identifying-data guard: names and contents of every kind, check digits, the allow-list, redaction,
and the k-anonymity check on the quasi-identifiers."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alliance.errors import ConfigError, ValidationError
from alliance.ingest.contract import validate_tables
from alliance.ingest.identifiers import (
    ADDRESS,
    BIRTH,
    DATE,
    EMAIL,
    FREE_TEXT,
    NAME,
    NATIONAL_ID,
    PHONE,
    RECORD,
    content_kind,
    dni_valid,
    examples,
    find_identifiers,
    name_kind,
    nhs_valid,
    redact,
    redact_text,
)
from alliance.ingest.privacy import k_anonymity, rare_combinations
from alliance.ingest.validation import run_validation
from alliance.report.validation import render_validation_report

EXPORTS = Path(__file__).parent / "data" / "exports"
TABLES = ("patients", "sessions", "outcomes")


def instruments(wai_sr, csq8) -> dict:
    return {"alliance": wai_sr, "satisfaction": csq8}


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("Nombre", NAME), ("first_name", NAME), ("Apellidos", NAME), ("Cognoms", NAME), ("PatientName", NAME),
        ("nombre_de_pila", NAME), ("Nom i cognoms", NAME), ("Surname", NAME),
        ("E-mail", EMAIL), ("Correo electrónico", EMAIL), ("correu", EMAIL),
        ("Teléfono móvil", PHONE), ("Tel.", PHONE), ("mobile", PHONE),
        ("Dirección", ADDRESS), ("Domicili", ADDRESS), ("Postcode", ADDRESS), ("C.P.", ADDRESS),
        ("Código postal", ADDRESS), ("zip", ADDRESS),
        ("Fecha de nacimiento", BIRTH), ("DOB", BIRTH), ("Data naixement", BIRTH), ("birth_year", BIRTH),
        ("fecha_alta", DATE), ("Session date", DATE), ("survey_timestamp", DATE),
        ("DNI/NIE", NATIONAL_ID), ("NHS Number", NATIONAL_ID), ("SSN", NATIONAL_ID), ("CIP", NATIONAL_ID),
        ("Tarjeta sanitaria", NATIONAL_ID), ("NHC", RECORD), ("MRN", RECORD),
        ("Observaciones", FREE_TEXT), ("notes", FREE_TEXT), ("Comentaris", FREE_TEXT),
    ],
)
def test_identifying_column_names(column, kind):
    assert name_kind(column) == kind


@pytest.mark.parametrize(
    "column",
    ["patient_id", "therapist_id", "site", "discipline", "age_band", "gender", "baseline_severity",
     "sessions_planned", "session", "attended", "home_practice", "symptoms", "wai_sr_01", "alliance_total",
     "dropout", "satisfaction", "csq8_08", "record_id", "redcap_event_name", "redcap_repeat_instrument",
     "redcap_data_access_group", "site_name", "Nombre del centro", "instrument_name", "Código paciente",
     "Sexo", "Franja de edad", "Centro", "Asistió", "Abandono", "referral_source", "room"],
)
def test_ordinary_column_names(column):
    assert name_kind(column) is None


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["", "ana.lopez@example.org"], EMAIL),
        (["03/02/1980"], DATE), (["1980-02-03"], DATE), (["3 de marzo de 1980"], DATE),
        (["12 Mar 2024"], DATE), (["March 3, 1980"], DATE), (["2024-03-01 10:00"], DATE),
        (["12345678Z"], NATIONAL_ID), (["X1234567L"], NATIONAL_ID), (["943 476 5919"], NATIONAL_ID),
        (["9434765919"], NATIONAL_ID), (["123-45-6789"], NATIONAL_ID),
        (["+34 612 345 678"], PHONE), (["612345678"], PHONE), (["612 34 56 78"], PHONE),
        (["91 123 45 67"], PHONE), (["07700 900123"], PHONE), (["020 7946 0958"], PHONE),
        (["(555) 123-4567"], PHONE), (["0044 20 7946 0958"], PHONE),
        (["C/ Mayor 12, 3º 2ª"], ADDRESS), (["Passeig de Gràcia 21"], ADDRESS),
        (["221B Baker Street"], ADDRESS), (["943 476 5918"], PHONE),  # not an NHS number: a phone
        (["SW1A 1AA"], ADDRESS), (["28001", "08012"], ADDRESS),
        (["Ana López García", "P2"], NAME), (["MARTÍNEZ RUIZ, MARÍA"], NAME),
        (["Marta", "Jordi", "Laia", "Pau"], NAME),
        (["Reports that the pain started after a fall at work last winter"], FREE_TEXT),
        (["x" * 120], FREE_TEXT),
    ],
)
def test_identifying_contents(values, kind):
    assert content_kind(pd.Series(values, dtype=object)) == kind


@pytest.mark.parametrize(
    "values",
    [["P-0001", "100234567"], ["18-29", "30-44", "65+"], ["physiotherapy", "other"],
     ["Female", "Mujer", "x"], ["Sí", "No"],
     ["Hospital San Juan de Dios", "Sant Pau", "Santa Maria", "North"],
     ["0.123456789012", "20.5"], ["4", "5", ""], ["1,5", "2"], ["12345678A", "87654321B"],
     ["GP", "self", "A&E"], ["AXA-221", "B12"], ["Generalised anxiety disorder"], ["3.5", "12"], ["1e-05"]],
)
def test_ordinary_contents(values):
    assert content_kind(pd.Series(values, dtype=object)) is None


def test_codes_in_id_columns_are_not_phone_numbers_or_postcodes():
    assert content_kind(pd.Series(["612345678", "700123456"]), id_column=True) is None
    assert content_kind(pd.Series(["28001", "08012"]), id_column=True) is None
    assert content_kind(pd.Series(["+34 612 345 678"]), id_column=True) == PHONE


def test_typed_columns():
    assert content_kind(pd.Series(pd.to_datetime(["2024-01-02"]))) == DATE
    assert content_kind(pd.Series([612345678, 700000000])) == PHONE
    assert content_kind(pd.Series([0.5, 1.25])) is None
    assert content_kind(pd.Series([True, False])) is None
    assert content_kind(pd.Series([pd.Timestamp("2024-01-02"), None], dtype=object)) == DATE


def test_check_digits():
    assert dni_valid("12345678Z") and dni_valid("12345678-z") and not dni_valid("12345678A")
    assert dni_valid("X1234567L") and dni_valid("Y7654321G") and not dni_valid("X1234567A")
    assert nhs_valid("943 476 5919") and nhs_valid("9434765919") and not nhs_valid("9434765918")
    assert not nhs_valid("4010232138")  # check value 10: never a valid NHS number


def test_random_codes_with_the_shape_of_an_id_are_not_flagged():
    rng = np.random.default_rng(7)
    ten_digits = pd.Series([str(x) for x in rng.integers(10**9, 10**10, 300)])
    letters = "ABCDEFGHJKLMNPQRSTVWXYZ"
    dni_shaped = pd.Series([f"{x}{letters[i % 23]}" for i, x in enumerate(rng.integers(10**7, 10**8, 300))])
    assert content_kind(ten_digits, id_column=True) is None
    assert content_kind(dni_shaped, id_column=True) is None


def test_find_identifiers_skips_allowed_columns():
    df = pd.DataFrame({"ref": ["12345678Z"], "mail": ["x"], "site": ["north"]})
    assert find_identifiers(df) == [("ref", NATIONAL_ID), ("mail", EMAIL)]
    assert find_identifiers(df, allowed={"ref"}) == [("mail", EMAIL)]


def test_redaction():
    assert redact("ana@example.org") == "<hidden: looks like an e-mail address>"
    assert redact("maybe") == "maybe" and redact(7) == "7"
    assert examples(["12345678Z", "often", "often", "+34 612 345 678", "x"]) == (
        "'<hidden: looks like a national identity number>', 'often', '<hidden: looks like a phone number>'")
    text = redact_text("bad value '12345678Z' near +34 612 345 678 on 2020-01-02 (ana@x.org)")
    for value in ("12345678Z", "612 345 678", "2020-01-02", "ana@x.org"):
        assert value not in text


# ---- The hand-written export with identifiers hidden among real-looking columns -------------------------

HIDDEN = {"patients": {"ref": NATIONAL_ID, "contact": EMAIL, "kin": NAME, "discharged": DATE,
                       "location": ADDRESS, "area": ADDRESS, "extra": PHONE, "doc": NATIONAL_ID,
                       "info": FREE_TEXT},
          "sessions": {"slot": DATE}, "outcomes": {"reviewer": NAME}}


def export_values(table: str, columns) -> list[str]:
    with open(EXPORTS / "identifiers" / f"{table}.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row[c] for row in rows for c in columns if row[c]]


@pytest.fixture
def identifiers_data() -> dict:
    return {table: str(EXPORTS / "identifiers" / f"{table}.csv") for table in TABLES}


def test_hidden_identifiers_are_all_refused_and_nothing_else(identifiers_data, wai_sr, csq8):
    outcome = run_validation(identifiers_data, {}, instruments(wai_sr, csq8))
    found = {(p.file, p.column): p.message for p in outcome.problems}
    expected = {(identifiers_data[t], c): k for t, columns in HIDDEN.items() for c, k in columns.items()}
    assert set(found) == set(expected)
    for key, kind in expected.items():
        assert kind in found[key]
    text = str(outcome.error()) + render_validation_report(outcome)
    for table, columns in HIDDEN.items():
        for value in export_values(table, columns):
            assert value not in text, value
    assert "room" not in {p.column for p in outcome.problems}


def test_allow_list_keeps_a_falsely_flagged_column(identifiers_data, wai_sr, csq8):
    allow = [{"table": t, "column": c, "reason": "test"} for t, cs in HIDDEN.items() for c in cs
             if c != "kin"]
    outcome = run_validation(identifiers_data, {"allow_columns": allow}, instruments(wai_sr, csq8))
    assert [(p.column, "a name" in p.message) for p in outcome.problems] == [("kin", True)]
    allow.append({"table": "patients", "column": "kin", "reason": "the clinic's code words"})
    outcome = run_validation(identifiers_data, {"allow_columns": allow}, instruments(wai_sr, csq8))
    assert outcome.passed
    assert outcome.summary()["privacy"]["allowed_columns"][-1]["reason"] == "the clinic's code words"
    assert "the clinic&#39;s code words" in render_validation_report(outcome)


@pytest.mark.parametrize(
    "entry",
    [{"table": "patients", "column": "kin"}, {"table": "visits", "column": "kin", "reason": "x"},
     {"table": "patients", "column": "", "reason": "x"}, "kin"],
)
def test_allow_list_entries_need_table_column_and_reason(identifiers_data, wai_sr, csq8, entry):
    with pytest.raises(ConfigError, match=r"privacy\.allow_columns"):
        run_validation(identifiers_data, {"allow_columns": [entry]}, instruments(wai_sr, csq8))


def test_a_mapped_column_is_judged_by_its_name_in_the_file_too(tmp_path, wai_sr, csq8):
    data = {t: str(EXPORTS / "clinica_es" / f) for t, f in
            zip(TABLES, ("pacientes.csv", "sesiones.csv", "resultados.csv"), strict=True)}
    import yaml

    config = yaml.safe_load((EXPORTS / "clinica_es/config.yaml").read_text(encoding="utf-8"))["data"]
    config["columns"]["patients"]["Terapeuta"] = "therapist_id"
    text = (EXPORTS / "clinica_es/pacientes.csv").read_bytes().decode("latin-1")
    (tmp_path / "p.csv").write_bytes(text.replace("Código paciente", "DNI").encode("latin-1"))
    config |= {"patients": str(tmp_path / "p.csv"), "sessions": data["sessions"],
               "outcomes": data["outcomes"]}
    config["columns"]["patients"]["DNI"] = "patient_id"
    outcome = run_validation(config, {}, instruments(wai_sr, csq8))
    (problem,) = outcome.problems
    assert problem.column == "DNI" and "national identity number by its name" in problem.message


def test_patient_ids_that_are_identifiers_are_never_listed(wai_sr, csq8):
    ids = ["12345678Z", "87654321X", "45678912S"]
    patients = pd.DataFrame({"patient_id": ids, "therapist_id": ["T1", "T1", "T2"],
                             "sessions_planned": ["6", "x", "6"]})
    sessions = pd.DataFrame({"patient_id": ids, "session": ["1", "1", "1"], "attended": ["1", "1", "0"]})
    outcomes = pd.DataFrame({"patient_id": ids, "dropout": ["0", "1", "maybe"]})
    files = {t: f"{t}.csv" for t in TABLES}
    with pytest.raises(ValidationError) as caught:
        validate_tables({"patients": patients, "sessions": sessions, "outcomes": outcomes}, files, wai_sr,
                        satisfaction=csq8)
    text = str(caught.value)
    assert "national identity number" in text and "rows 2" in text and "'maybe'" in text
    for value in ids:
        assert value not in text


def test_quoted_bad_values_are_redacted(wai_sr, csq8):
    patients = pd.DataFrame({"patient_id": ["P1", "P2"], "therapist_id": ["T1", "T1"],
                             "sessions_planned": ["6", "6"], "baseline_severity": ["12", "call 612 345 678"]})
    sessions = pd.DataFrame({"patient_id": ["P1"], "session": ["1"], "attended": ["ana@example.org"]})
    outcomes = pd.DataFrame({"patient_id": ["P1", "P2"], "dropout": ["0", "1"]})
    with pytest.raises(ValidationError) as caught:
        validate_tables({"patients": patients, "sessions": sessions, "outcomes": outcomes},
                        {t: t for t in TABLES}, wai_sr, satisfaction=csq8)
    text = str(caught.value)
    assert "612 345 678" not in text and "ana@example.org" not in text
    assert "baseline_severity" in text and "attended" in text


# ---- k-anonymity ------------------------------------------------------------------------------------------

def test_rare_combinations_by_hand():
    patients = pd.DataFrame({"site": ["a"] * 12 + ["b"] * 3,
                             "gender": ["f"] * 6 + ["m"] * 6 + ["f", None, "m"],
                             "age_band": [None] * 15, "discipline": ["physiotherapy"] * 15})
    rare = rare_combinations(patients, 5)
    assert list(rare.columns) == ["site", "discipline", "gender", "n"]  # age_band: no values, not used
    assert rare.values.tolist() == [["b", "physiotherapy", "(missing)", 1], ["b", "physiotherapy", "f", 1],
                                    ["b", "physiotherapy", "m", 1]]
    assert k_anonymity(patients, 5) == {"k": 5, "columns": ["site", "discipline", "gender"],
                                        "combinations": 5, "rare_combinations": 3, "patients_in_rare": 3}
    assert k_anonymity(patients, 6)["rare_combinations"] == 3  # groups of 6 are not rare at k = 6
    assert k_anonymity(patients, 7)["rare_combinations"] == 5
    assert k_anonymity(patients[["age_band"]], 5)["columns"] == []
