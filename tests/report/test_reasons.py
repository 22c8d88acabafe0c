"""Why a model has no estimate, in the report's language: reasons are messages set where the fit happens
(`alliance.i18n.Message`), their English unchanged in `status.csv`, and written in Spanish and Catalan by
the report from their JSON form."""

import ast
import json
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
from report_inputs import model_results, report_inputs

import alliance
from alliance.errors import NotEstimable
from alliance.features.build import patient_features
from alliance.i18n import Message, Plural, Term, message_text, read_message, use_language
from alliance.ingest.contract import validate_tables
from alliance.measurement.psychometrics import therapist_icc
from alliance.models import fit_family
from alliance.models.plan import PLANNED, status_table
from alliance.report.document import build_report
from alliance.report.format import format_value
from alliance.scoring.scores import score_patients, score_sessions
from alliance.simulation.synthetic import synthesize

COVARIATES = ["baseline_severity", "discipline"]
NO_DROPOUT = "no patient dropped out after the early window"
FEW_FOR_GEE = "2 therapists (fewer than 10): the GEE's robust standard error would rest on too few clusters"
SINGLE_THERAPIST = "a single therapist: there is no variance between therapists"
# The same reasons as the Spanish and Catalan reports write them (as sentences).
WRITTEN = {
    "es": ["Ningún paciente abandonó el tratamiento después de la ventana inicial.",
           "2 terapeutas (menos de 10): el error estándar robusto de la GEE se basaría en muy pocos "
           "conglomerados.",
           "La variable de resultado (satisfacción) toma un único valor: todos los pacientes analizados "
           "tienen",
           "un solo terapeuta: no hay varianza entre terapeutas"],
    "ca": ["Cap pacient no va abandonar el tractament després de la finestra inicial.",
           "2 terapeutes (menys de 10): l'error estàndard robust de la GEE es basaria en massa pocs "
           "conglomerats.",
           "La variable de resultat (satisfacció) pren un únic valor: tots els pacients analitzats tenen",
           "un sol terapeuta: no hi ha variància entre terapeutes"],
}


@pytest.fixture(scope="module")
def degenerate(default_config, wai_sr, csq8):
    """Statuses of real fits on degenerate data (a small synthetic cohort): no patient dropped out, every
    patient with the same satisfaction, two therapists; and a therapist ICC with one therapist."""
    cfg = default_config["synthetic"] | {"n_patients": 120, "n_therapists": 12, "seed": 5}
    patients, sessions, outcomes, _truth = synthesize(cfg, 3, COVARIATES)
    raw = {"patients": patients, "sessions": sessions, "outcomes": outcomes}
    valid = validate_tables(raw, {k: f"{k}.csv" for k in raw}, wai_sr, satisfaction=csq8)
    features = patient_features(valid.patients, score_sessions(valid.sessions, wai_sr),
                                score_patients(valid.outcomes, csq8), outcomes=valid.outcomes, early_window=3)
    dropout = fit_family("dropout", features.assign(dropout=features["dropout"].where(
        features["dropout"].isna(), False)), COVARIATES, levels=False)
    satisfaction = fit_family("satisfaction", features.assign(satisfaction=24.0), COVARIATES, levels=False,
                              describe=False)
    two = features[features["therapist_id"].isin(sorted(features["therapist_id"].unique())[:2])]
    adherence = fit_family("adherence", two, COVARIATES, levels=False, describe=False)
    icc = therapist_icc(features.assign(therapist_id="T1", value=features["alliance_mean"]), n_boot=10)
    statuses = {s["key"]: s for result in (dropout, satisfaction, adherence) for s in result.statuses}
    return {"statuses": statuses, "icc": icc, "features": features}


def report_text(tmp_path: Path, degenerate: dict, code: str) -> str:
    """The report of the small hand-set run with the degenerate fits' statuses and ICC, in language `code`,
    as the status table and the ICC travel: through JSON (result.json) and CSV (status.csv, the
    psychometric tables)."""
    inputs = report_inputs(tmp_path)
    written = json.loads(json.dumps(degenerate["statuses"], sort_keys=True))
    results = [result | {"statuses": [written.get(s["key"], s) for s in result["statuses"]]}
               for result in model_results()]
    dimensions = {"family": "dimensions", "statuses": [
        {"key": p.key, "status": "not_estimable", "reason": "no such data in this test", "flags": ""}
        for p in PLANNED if p.family == "dimensions"]}
    dynamics = {"family": "dynamics", "statuses": [
        {"key": "H4c", "status": "not_estimable", "reason": "no such data in this test", "flags": ""}]}
    status = status_table([*results, dimensions, dynamics])
    status.to_csv(tmp_path / "status.csv", index=False)
    icc = pd.DataFrame([degenerate["icc"]])
    icc.to_csv(tmp_path / "icc.csv", index=False)
    status = pd.read_csv(tmp_path / "status.csv", keep_default_na=False)
    inputs |= {"model_results": results, "status": status,
               "config": inputs["config"] | {"report": {"language": code}}}
    inputs["psychometrics"] = inputs["psychometrics"] | {"therapist_icc": pd.read_csv(tmp_path / "icc.csv")}
    return unescape(build_report(**inputs))


def test_the_english_of_reasons_is_as_before(degenerate):
    """status.csv keeps the English text of each reason, byte for byte as before reasons were messages."""
    statuses = degenerate["statuses"]
    assert statuses["H2"]["reason"] == NO_DROPOUT and statuses["H2c"]["reason"] == NO_DROPOUT
    assert statuses["H1-gee"]["reason"] == FEW_FOR_GEE
    assert statuses["H3"]["reason"] == "satisfaction takes a single value: every analysed patient has 24"
    assert degenerate["icc"]["reason"] == SINGLE_THERAPIST
    constant = degenerate["features"].assign(alliance_early=4.0)
    result = fit_family("dropout", constant, COVARIATES, levels=False, describe=False)
    h2 = next(s for s in result.statuses if s["key"] == "H2")
    n = read_message(h2["reason_message"]).values["count"].values["n"]
    assert h2["reason"] == (f"early alliance takes a single value (4) in the dropout analysis sample ({n} "
                            "patients)")
    message = Message("the therapist means of {predictor} do not vary beyond chance (F({df1}, {df2}) = "
                      "{f:.2f}, p = {p:.3u})", predictor=Term("predictor", "early alliance"), df1=3, df2=16,
                      f=1.234, p=0.0456)
    assert str(message) == ("the therapist means of early alliance do not vary beyond chance (F(3, 16) = "
                            "1.23, p = .046)")
    for key in ("H2", "H1-gee", "H3"):
        assert str(read_message(statuses[key]["reason_message"])) == statuses[key]["reason"]


@pytest.mark.parametrize("code", ["es", "ca"])
def test_the_spanish_and_catalan_reports_write_the_reasons_of_real_fits_translated(tmp_path, degenerate,
                                                                                    code):
    text = report_text(tmp_path, degenerate, code)
    for sentence in WRITTEN[code]:
        assert sentence in text
    for english in (NO_DROPOUT, FEW_FOR_GEE[len("2 therapists"):], "takes a single value", SINGLE_THERAPIST):
        assert english not in text
        assert english[0].upper() + english[1:] not in text


def test_the_english_report_writes_the_reasons_as_they_were(tmp_path, degenerate):
    text = report_text(tmp_path, degenerate, "en")
    assert "No patient dropped out after the early window." in text and f"{FEW_FOR_GEE[0].upper()}" in text
    assert FEW_FOR_GEE + "." in text and '<span lang="en">' not in text


def test_a_message_with_nested_messages_and_numbers_round_trips_through_json():
    message = Message("the {outcome} model: {count} and {value:.2f}, p = {p:.3u}; {items}",
                      outcome=Term("outcome", "satisfaction"),
                      count=Plural("{n} therapist", "{n} therapists", n=1234),
                      value=0.256, p=0.0453, items=[Message("item {item}", item=7), "x_col"])
    data = json.loads(message_text(message))
    again = read_message(message_text(message))
    assert again == message and hash(again) == hash(message) and again.to_json() == data
    assert message_text(again) == message_text(message)  # the same bytes again
    assert str(again) == "the satisfaction model: 1234 therapists and 0.26, p = .045; item 7, x_col"
    written_parts = {"es": ["satisfacción", "1.234 terapeutas", "0,26", "p = 0,045", "el ítem 7, x_col"],
                     "ca": ["satisfacció", "1.234 terapeutes", "0,26", "p = 0,045", "l'ítem 7, x_col"]}
    for code, expected in written_parts.items():
        with use_language(code):
            written = again.render(format_value)
            assert written == message.render(format_value)
            assert all(part in written for part in expected), written


def test_catalan_elides_de_before_a_vowel_of_a_value():
    message = Message("the logistic model of {outcome} did not converge ({method})",
                      outcome=Term("outcome", "dropout"), method=Message("IRLS"))
    with use_language("ca"):
        assert message.render(format_value) == "el model logístic d'abandonament no va convergir (IRLS)"
        assert Message("the logistic model of {outcome} did not converge ({method})", method="IRLS",
                       outcome=Term("outcome", "satisfaction")).render(format_value).startswith(
            "el model logístic de satisfacció")
    with use_language("es"):
        assert message.render(format_value) == "el modelo logístico de abandono no convergió (IRLS)"


def test_not_estimable_takes_a_message_only():
    assert NotEstimable(Message("no patient dropped out")).reason == "no patient dropped out"
    with pytest.raises(TypeError, match="Message"):
        NotEstimable("no patient dropped out")
    with pytest.raises(TypeError, match="Message"):
        NotEstimable(f"{3} patients")


def test_no_reason_is_raised_as_text():
    """Every `NotEstimable(...)` of the package is given a message, not text: no string literal, f-string,
    concatenation or `.format` as its reason (`NotEstimable` refuses text when raised; this finds a raise
    the tests do not reach)."""
    text = []
    for path in Path(alliance.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("NotEstimable", "FitFailed")
                    and node.args and _is_text(node.args[0])):
                text.append(f"{path.name}:{node.lineno}")
    assert text == []
    examples = ('f"{n} patients"', '"a" + b', '"{}".format(n)')
    assert all(_is_text(ast.parse(code).body[0].value) for code in examples)
    assert not _is_text(ast.parse('Message("{n} patients", n=n)').body[0].value)


def _is_text(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant | ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _is_text(node.left) or _is_text(node.right)
    return isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("format", "join")
