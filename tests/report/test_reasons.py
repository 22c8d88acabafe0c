"""Why a model has no estimate, in the report's language: reasons are messages set where the fit happens
(`alliance.i18n.Message`), their English unchanged in `status.csv`, and written in Spanish and Catalan by
the report from their JSON form. So are the steps of the analysis flows, the notes and flags of the fits,
the sensitivity analyses' notes and the data warnings of the validation."""

import ast
import json
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_inputs import EFFECTS, model_results, report_inputs

import alliance
from alliance.errors import NotEstimable
from alliance.features.build import patient_features
from alliance.i18n import Message, Plural, Term, message_text, read_message, suppressing_counts, use_language
from alliance.ingest.contract import validate_tables
from alliance.ingest.validation import run_validation
from alliance.measurement.psychometrics import therapist_icc
from alliance.models import fit_family
from alliance.models.common import (
    NO_EARLIER_SCORED_SESSION,
    NO_EARLY_ALLIANCE,
    SESSIONS_OF_THE_COHORT,
    ModelResult,
    build_design,
    empty_reason,
    labelled,
    notes_record,
    resolve_covariates,
    session_design,
    session_flow,
)
from alliance.models.plan import PLANNED, status_table
from alliance.models.satisfaction import ORDINAL_LABEL, ceiling_check, ceiling_notes
from alliance.models.sensitivity import _Run, _window_rows
from alliance.report.analysis import sensitivity_notes
from alliance.report.document import build_report
from alliance.report.format import format_value
from alliance.report.words import effect_summary, notes_words, reason_words
from alliance.scoring.scores import score_patients, score_sessions
from alliance.simulation.synthetic import synthesize

COVARIATES = ["baseline_severity", "discipline"]
NO_DROPOUT = "no patient dropped out after the early window"  # H2c's: every patient's curve
NO_ANALYSED_DROPOUT = "no analysed patient dropped out after the early window"  # H2's complete cases
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
    return {"statuses": statuses, "icc": icc, "features": features, "raw": raw,
            "results": {r.family: r.to_dict() for r in (dropout, satisfaction, adherence)}}


def with_statuses(results: list[dict], statuses: dict[str, dict]) -> list[dict]:
    """The hand-set results with the `statuses` (by key) in place of theirs."""
    return [result | {"statuses": [statuses.get(s["key"], s) for s in result["statuses"]]}
            for result in results]


def status_csv(tmp_path: Path, results: list[dict]) -> pd.DataFrame:
    """The status table of `results` and of H4c and H5 (not estimable here) through status.csv."""
    dimensions = {"family": "dimensions", "statuses": [
        {"key": p.key, "status": "not_estimable", "reason": "no such data in this test", "flags": ""}
        for p in PLANNED if p.family == "dimensions"]}
    dynamics = {"family": "dynamics", "statuses": [
        {"key": "H4c", "status": "not_estimable", "reason": "no such data in this test", "flags": ""}]}
    status_table([*results, dimensions, dynamics]).to_csv(tmp_path / "status.csv", index=False)
    return pd.read_csv(tmp_path / "status.csv", keep_default_na=False)


def report_text(tmp_path: Path, degenerate: dict, code: str) -> str:
    """The report of the small hand-set run with the degenerate fits' statuses and ICC, in language `code`,
    as the status table and the ICC travel: through JSON (result.json) and CSV (status.csv, the
    psychometric tables)."""
    inputs = report_inputs(tmp_path)
    results = with_statuses(model_results(), json.loads(json.dumps(degenerate["statuses"], sort_keys=True)))
    icc = pd.DataFrame([degenerate["icc"]])
    icc.to_csv(tmp_path / "icc.csv", index=False)
    inputs |= {"model_results": results, "status": status_csv(tmp_path, results),
               "config": inputs["config"] | {"report": {"language": code}}}
    inputs["psychometrics"] = inputs["psychometrics"] | {"therapist_icc": pd.read_csv(tmp_path / "icc.csv")}
    return unescape(build_report(**inputs))


def test_the_english_of_reasons_is_as_before(degenerate):
    """status.csv keeps the English text of each reason, byte for byte as before reasons were messages."""
    statuses = degenerate["statuses"]
    assert statuses["H2"]["reason"] == NO_ANALYSED_DROPOUT and statuses["H2c"]["reason"] == NO_DROPOUT
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
    for english in (NO_DROPOUT, NO_ANALYSED_DROPOUT, FEW_FOR_GEE[len("2 therapists"):],
                    "takes a single value", SINGLE_THERAPIST):
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


# The English of a fit's flow, flags and notes, and of a data warning, as before they were messages.
DROPOUT_FLOW = ["patients in the cohort", "excluded: no outcome recorded",
                "excluded: treatment ended within the early window",
                "excluded: no scored alliance in the early window", "excluded: missing a covariate value",
                "analysed"]
FEW_CLUSTERS = ("Few clusters: 2 therapists (fewer than 50); bias-reduced (Mancl-DeRouen) cluster-robust "
                "standard errors, with t(1) intervals and p-values.")
NOTES = ["Of the 20 analysed patients, 5 (25.0%) are at the maximum satisfaction score (32).",
         "That is a ceiling effect (more than 15%; Terwee et al., 2007): the proportional-odds model "
         "(sensitivity) does not assume equal spacing at the top.",
         "Proportional-odds model: The covariate not_a_column was left out: it is not a column of the data."]
SENSITIVITY_NOTES = ["Early window k = 3 is the primary window; not repeated.",
                     "Other early windows do not change satisfaction (no early-alliance predictor)."]
K_ANONYMITY = ("51 of 51 combinations of site, discipline, age_band, gender are shared by fewer than "
               "k = 10 patients (120 patients in them): such patients may be recognisable from these "
               "columns; consider coarser groups (wider age bands, merged sites)")
# The same as the Spanish and Catalan reports write them.
WRITTEN_WORDS = {
    "es": ["pacientes de la cohorte", "excluidos: sin desenlace registrado",
           "excluidos: el tratamiento terminó dentro de la ventana inicial",
           "Pocos conglomerados: 2 terapeutas (menos de 50); errores estándar robustos por conglomerados con "
           "reducción del sesgo (Mancl-DeRouen), con intervalos y valores p basados en la t(1).",
           "De los 20 pacientes analizados, 5 (25,0\u00a0%) tienen la puntuación máxima de satisfacción "
           "(32).",
           "Es un efecto techo (más del 15\u00a0%; Terwee et al., 2007)",
           "Modelo de odds proporcionales: La covariable not_a_column se dejó fuera: no es una columna de "
           "los datos.",
           "La ventana inicial k = 3 es la del análisis principal; no se repite.",
           "Las otras ventanas iniciales no afectan a los modelos de satisfacción",
           "51 de 51 combinaciones de site, discipline, age_band, gender las comparten menos de k = 10 "
           "pacientes (120 pacientes en ellas)"],
    "ca": ["pacients de la cohort", "exclosos: sense desenllaç registrat",
           "exclosos: el tractament va acabar dins de la finestra inicial",
           "Pocs conglomerats: 2 terapeutes (menys de 50); errors estàndard robustos per conglomerats amb "
           "reducció del biaix (Mancl-DeRouen), amb intervals i valors p basats en la t(1).",
           "Dels 20 pacients analitzats, 5 (25,0\u00a0%) tenen la puntuació màxima de satisfacció (32).",
           "És un efecte sostre (més del 15\u00a0%; Terwee et al., 2007)",
           "Model d'odds proporcionals: La covariable not_a_column s'ha deixat fora: no és una columna de "
           "les dades.",
           "La finestra inicial k = 3 és la de l'anàlisi principal; no es repeteix.",
           "Les altres finestres inicials no afecten els models de satisfacció",
           "51 de 51 combinacions de site, discipline, age_band, gender les comparteixen menys de k = 10 "
           "pacients (120 pacients en aquestes combinacions)"],
}


@pytest.fixture(scope="module")
def written(degenerate, tmp_path_factory, wai_sr, csq8):
    """What the workflow writes of the degenerate fits, through JSON: their results (flows, notes, statuses
    with flags; notes added from the real note makers), the sensitivity summary's notes (the other-windows
    step, without refits) and the data warnings of the validation of the cohort's tables (its k-anonymity
    warning)."""
    folder = tmp_path_factory.mktemp("tables")
    data = {}
    for name, frame in degenerate["raw"].items():
        frame.to_csv(folder / f"{name}.csv", index=False)
        data[name] = str(folder / f"{name}.csv")
    outcome = run_validation(data, {"min_cell_size": 10}, {"alliance": wai_sr, "satisfaction": csq8})
    check = ceiling_check(pd.Series([32.0] * 5 + [20.0] * 15), (8.0, 32.0))
    _used, dropped = resolve_covariates(degenerate["features"], ["not_a_column"])
    notes = [*ceiling_notes(check), *labelled(dropped, ORDINAL_LABEL)]
    satisfaction = degenerate["results"]["satisfaction"] | notes_record(notes)
    results = degenerate["results"] | {"satisfaction": satisfaction}
    run = _Run(degenerate["features"], COVARIATES, labels={
        "adherence": ("attendance", "alliance_early", ""), "dropout": ("dropout", "alliance_early", ""),
        "satisfaction": ("satisfaction", "alliance_mean", "")})
    _window_rows(run, [3], 3, {})
    return json.loads(json.dumps({"results": results, "sensitivity": notes_record(run.notes),
                                  "warnings": outcome.summary()["warnings"]}, sort_keys=True))


def fits_report(tmp_path: Path, written: dict, code: str) -> str:
    """The report, in language `code`, of the hand-set run with the flows, notes and statuses of the
    degenerate fits (status.csv through CSV), their sensitivity notes and data warnings."""
    inputs = report_inputs(tmp_path)
    fits = written["results"]
    statuses = {s["key"]: s for fit in fits.values() for s in fit["statuses"]}
    results = [result | {key: fits[result["family"]][key] for key in ("flow", "notes", "notes_message")}
               if result["family"] in fits else result for result in with_statuses(model_results(), statuses)]
    html = build_report(**inputs | {
        "model_results": results, "status": status_csv(tmp_path, results),
        "validation": inputs["validation"] | {"warnings": written["warnings"]},
        "sensitivity": EFFECTS.assign(variant="complete cases (primary)"),
        "sensitivity_notes": sensitivity_notes(written["sensitivity"]),
        "config": inputs["config"] | {"report": {"language": code}}})
    return unescape(html)


def test_the_english_of_flows_flags_notes_and_warnings_is_as_before(written):
    """The English fields keep the text they had before they were messages (literal), and each message's
    English is that text."""
    results = written["results"]
    assert [step["step"] for step in results["dropout"]["flow"]] == DROPOUT_FLOW
    assert next(s for s in results["adherence"]["statuses"] if s["key"] == "H1")["flags"] == FEW_CLUSTERS + (
        " Few events: the rarer outcome occurs 26 times for 3 coefficients (fewer than 10 per coefficient; "
        "Peduzzi et al., 1996): the estimates may lie further from no effect than the data warrant and their "
        "intervals be too narrow.")
    assert results["satisfaction"]["notes"] == NOTES and written["sensitivity"]["notes"] == SENSITIVITY_NOTES
    assert [(w["kind"], w["message"], w["report_message"]) for w in written["warnings"]] == [
        ("k_anonymity", K_ANONYMITY, K_ANONYMITY)]
    for result in results.values():
        assert all(str(read_message(step["step_message"])) == step["step"] for step in result["flow"])
        assert [str(read_message(note)) for note in result["notes_message"]] == result["notes"]
        assert all(str(read_message(s["flags_message"])) == s["flags"]
                   for s in result["statuses"] if s["flags"])
    assert all(str(read_message(w["report_message_message"])) == w["report_message"]
               for w in written["warnings"])


@pytest.mark.parametrize("code", ["es", "ca"])
def test_the_spanish_and_catalan_reports_write_flows_flags_notes_and_warnings_translated(tmp_path, written,
                                                                                         code):
    text = fits_report(tmp_path, written, code)
    for words in WRITTEN_WORDS[code]:
        assert words in text
    for english in [*DROPOUT_FLOW[:-1], FEW_CLUSTERS, *NOTES, *SENSITIVITY_NOTES, K_ANONYMITY]:
        assert english not in text


def test_the_english_report_writes_flows_flags_notes_and_warnings_as_they_were(tmp_path, written):
    text = fits_report(tmp_path, written, "en")
    for english in [*DROPOUT_FLOW, FEW_CLUSTERS, *NOTES, *SENSITIVITY_NOTES, K_ANONYMITY]:
        assert english in text


def test_a_flow_and_notes_round_trip_through_json():
    """A session flow prefixed with its outcome and a family's notes, through JSON as result.json keeps
    them: the same English, written in Spanish and Catalan from their messages."""
    rows = pd.DataFrame({"patient_id": ["P1", "P1", "P2"], "alliance_prev": [None, 3.5, 4.0]})
    _data, flow, _flags = session_flow(rows, [(NO_EARLIER_SCORED_SESSION, rows["alliance_prev"].isna())], [],
                               first=SESSIONS_OF_THE_COHORT, outcome="home practice")
    note = Message("{n} prorated totals were rounded to the nearest point.", n=1234)
    result = json.loads(json.dumps(ModelResult("adherence", [], flow, labelled([note], ORDINAL_LABEL), "")
                                   .to_dict()))
    assert [(step["step"], step["n"]) for step in result["flow"]] == [
        ("home practice: sessions of the cohort", 3),
        ("home practice: excluded sessions: no earlier scored session", 1),
        ("home practice: sessions analysed", 2), ("home practice: patients analysed", 2)]
    assert result["notes"] == [
        "Proportional-odds model: 1234 prorated totals were rounded to the nearest point."]
    assert read_message(result["notes_message"][0]) == labelled([note], ORDINAL_LABEL)[0]
    expected = {"es": ("práctica en casa: sesiones excluidas: sin una sesión puntuada anterior",
                       "Modelo de odds proporcionales: 1.234 totales prorrateados se "
                       "redondearon al punto entero más próximo."),
                "ca": ("pràctica a casa: sessions excloses: sense una sessió puntuada anterior",
                       "Model d'odds proporcionals: 1.234 totals prorratejats s'han "
                       "arrodonit al punt enter més proper.")}
    for code, (step, note_text) in expected.items():
        with use_language(code):
            assert reason_words(result["flow"][1], "step") == step
            assert notes_words(result) == [note_text]


@pytest.mark.parametrize(("window", "sessions", "sesiones"), [(3, "sessions 1-3", "sesiones 1-3"),
                                                               (1, "session 1", "sesión 1")])
def test_an_empty_sample_names_the_early_window_as_its_sessions(window, sessions, sesiones):
    """No patient with an early alliance: the reason names the window's sessions, one session as itself
    (an early window of 1 read "(sessions 1-1)")."""
    features = pd.DataFrame({"patient_id": ["P1", "P2"], "therapist_id": ["T1", "T2"],
                             "alliance_early": [np.nan, np.nan], "y": [1.0, 0.0]})
    features.attrs["early_window"] = window
    missing = [(NO_EARLY_ALLIANCE, lambda d: d["alliance_early"].isna())]
    design = build_design(features, outcome="satisfaction", predictor="alliance_early", response="y",
                          covariates=[], exclusions=missing)
    reason = empty_reason(design)
    assert str(reason) == f"no patient has a scored alliance in the early window ({sessions})"
    with use_language("es"):
        assert reason.render(format_value) == (
            f"ningún paciente tiene alianza puntuada en la ventana inicial ({sesiones})")


def test_an_empty_sample_names_its_last_exclusion_in_the_report_language():
    """Without a sentence for the exclusion that left no rows, the reason names it from the flow's message."""
    features = pd.DataFrame({"patient_id": ["P1", "P2"], "therapist_id": ["T1", "T2"]})
    sessions = pd.DataFrame({"patient_id": ["P1", "P2"], "session": [2, 2], "alliance_prev": [3.0, 4.0],
                             "home_practice": [float("nan")] * 2})
    design = session_design(features, sessions, outcome="home practice", response="home_practice",
                            covariates=[])
    reason = empty_reason(design)
    assert str(reason).endswith("left for the home practice model (the last excluded: no home practice "
                                "recorded)")
    with use_language("es"):
        assert reason.render(format_value).endswith(
            "para el modelo de práctica en casa (última exclusión: sin registro de práctica en casa)")


def test_a_standardised_slope_past_one_is_not_called_a_correlation():
    """Satisfaction recorded for a tenth of the patients (a reviewer's probe): the summary read "as a
    correlation, r = .74 [-.08, 1.56]". A points effect's r is its standardised slope, which can pass
    +/-1; the sentence then says so instead, with the numbers as numbers; a slope within +/-1 is unchanged."""
    row = pd.Series({"predictor": "alliance_mean", "outcome": "satisfaction", "scale": "points",
                     "estimate": 1.8, "ci_low": -0.2, "ci_high": 3.8, "p_value": 0.07, "r": 0.74,
                     "r_ci_low": -0.08, "r_ci_high": 1.56, "n_obs": 12, "n_patients": 12, "n_therapists": 3})
    narrower = row.copy()
    narrower["r_ci_high"] = 0.95
    with suppressing_counts(10):
        beyond, within = effect_summary(row, 3), effect_summary(narrower, 3)
    assert "correlation, r =" not in beyond and "in SD of the outcome, 0.74 [-0.08, 1.56], a standardised " \
        "slope that passes ±1 and so is no correlation" in beyond
    assert "as a correlation, r = .74 [-.08, .95]" in within
