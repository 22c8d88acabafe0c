"""H4c (ANALYSIS_PLAN.md): the RI-CLPM of alliance and symptoms in the workflow: its panel and default T
by hand, its statuses, the generator's planted direction recovered, and the report's section."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from figure_checks import layout_problems
from scipy import stats
from statsmodels.stats.multitest import multipletests

from alliance.errors import FITTED, NOT_ESTIMABLE
from alliance.i18n import read_message, use_language
from alliance.ingest.contract import validate_tables
from alliance.models.dynamics import (
    COLUMNS,
    EFFECTS,
    cross_lagged_tests,
    default_waves,
    dynamics_analysis,
    dynamics_table,
    first_wave,
    improper_reason,
    improper_within,
)
from alliance.models.effects import multiplicity_table
from alliance.report.dynamics import (
    agreement_sentences,
    dynamics_figure,
    dynamics_section,
    reportable_dynamics,
)
from alliance.report.format import estimate_digits, figure_numbers, format_number, format_p, format_value
from alliance.scoring.scores import score_sessions
from alliance.simulation.synthetic import generate_cohort
from alliance.stats.riclpm import NotEstimable, fit_riclpm, wide_from_long

FILES = {"patients": "patients.csv", "sessions": "sessions.csv", "outcomes": "outcomes.csv"}


@pytest.fixture(scope="module")
def cohort(default_config, wai_sr, csq8):
    """A default-like cohort (300 patients, 24 therapists) as the fit_models job reads it."""
    cfg = default_config["synthetic"] | {"n_patients": 300, "n_therapists": 24}
    tables = generate_cohort(cfg, 3, np.random.default_rng(5))[:3]
    raw = dict(zip(("patients", "sessions", "outcomes"), tables, strict=True))
    valid = validate_tables(raw, FILES, wai_sr, satisfaction=csq8)
    return score_sessions(valid.sessions, wai_sr), valid.sessions, valid.patients


@pytest.fixture(scope="module")
def fitted(cohort):
    return dynamics_analysis(*cohort, {"waves": 4})


def test_default_waves_is_the_last_session_with_both_scores_for_half_the_patients_and_no_empty_wave():
    rows = [(p, s, 4.0, 10.0) for p in "abcd" for s in (1, 2, 3)] + [(p, 4, 4.0, 10.0) for p in "ab"]
    rows += [("c", 4, np.nan, 10.0), ("a", 5, 4.0, 10.0)]
    panel = pd.DataFrame(rows, columns=["patient_id", "session", "alliance_total", "symptoms"])
    assert default_waves(panel, 4, 1) == 4  # 2 of 4 at session 4 (c has no alliance there); 1 at session 5
    assert default_waves(panel, 5, 1) == 3
    assert default_waves(panel.iloc[:0], 4, 1) == 0
    # alliance every other session after the third: session 4 has none, which ends the run (session 5 with
    # both scores for every patient once made T = 5, and the fit not estimable: a wave without scores)
    gap = pd.DataFrame([(p, s, 4.0 if s != 4 else np.nan, 10.0) for p in "abcd" for s in range(1, 6)],
                       columns=panel.columns)
    assert default_waves(gap, 4, 1) == 3
    # a session before T with fewer than half but at least 2 patients per score stays a wave (FIML uses
    # what it has): the alliance at session 1 for 4 of 10 patients, sessions 2-5 for all
    sparse = pd.DataFrame([(p, s, 4.0 if s > 1 or p < 4 else np.nan, 10.0) for p in range(10)
                           for s in range(1, 6)], columns=panel.columns)
    assert default_waves(sparse, 10, 1) == 5
    # ... and one patient is not enough: at 1 of 10, session 1 cannot be a wave (T = 0)
    assert default_waves(sparse.assign(alliance_total=sparse["alliance_total"].where(
        (sparse["session"] > 1) | (sparse["patient_id"] < 1))), 10, 1) == 0
    long = pd.DataFrame([(p, s, 4.0, 1.0) for p in range(10) for s in range(1, 12)],
                        columns=["patient_id", "session", "alliance_total", "symptoms"])
    assert default_waves(long, 10, 1) == 6  # capped: the fit's cost grows with T^2
    assert default_waves(long, 10, 4) == 6  # ... at T waves, not at session T: sessions 4-9


def test_the_waves_start_at_the_first_session_of_three_in_a_row_with_both_scores():
    """An alliance first given at session 3 (as the WAI often is) starts the waves there; an alliance
    every other (third, ...) session makes the waves every other (third) session; where no three waves
    can be had, the first usable session starts them, so that the next one is the reason."""
    columns = ["patient_id", "session", "alliance_total", "symptoms"]
    late = pd.DataFrame([(p, s, 4.0 if s >= 3 else np.nan, 10.0) for p in range(10) for s in range(1, 12)],
                        columns=columns)
    assert first_wave(late) == (3, 1) and default_waves(late, 10, 3) == 6  # sessions 3-8
    # sessions 3 and 4 only: no three waves at any spacing, and the run's end is the reason
    assert first_wave(late[late["session"] <= 4]) == (3, 1)
    alternate = late.assign(alliance_total=late["alliance_total"].where(late["session"] % 2 == 1, np.nan))
    assert first_wave(alternate) == (3, 2)
    assert default_waves(alternate, 10, 3, 2) == 5  # sessions 3, 5, 7, 9, 11
    assert default_waves(alternate, 10, 3) == 1  # one session apart, session 4 has no alliance
    every_third = late.assign(alliance_total=np.where(late["session"] % 3 == 1, 4.0, np.nan))
    assert first_wave(every_third) == (1, 3) and default_waves(every_third, 10, 1, 3) == 4  # 1, 4, 7, 10
    # every sixth session is beyond MAX_STEP: the first usable session, one session apart
    assert first_wave(late.assign(alliance_total=np.where(late["session"] % 6 == 1, 4.0, np.nan))) == (1, 1)
    assert first_wave(late.iloc[:0]) == (1, 1)
    # a single patient with the alliance at session 1 is not a wave; two are, and make three in a row
    one = late.copy()
    one.loc[(one["session"] < 3) & (one["patient_id"] < 1), "alliance_total"] = 4.0
    assert first_wave(one) == (3, 1)
    one.loc[(one["session"] < 3) & (one["patient_id"] < 2), "alliance_total"] = 4.0
    assert first_wave(one) == (1, 1) and default_waves(one, 10, 1) == 6


def test_wave_t_is_session_first_plus_t_minus_1_in_the_wide_data_and_in_the_reasons():
    long = pd.DataFrame([(p, s, float(p + s), float(p * s % 7)) for p in range(30) for s in range(1, 9)],
                        columns=["patient_id", "session", "alliance_total", "symptoms"])
    wide = wide_from_long(long, patient="patient_id", session="session", x="alliance_total", y="symptoms",
                          waves=3, first=4)
    assert list(wide.columns) == ["x1", "x2", "x3", "y1", "y2", "y3"]
    assert wide.loc[2].tolist() == [6.0, 7.0, 8.0, 1.0, 3.0, 5.0]  # sessions 4, 5, 6 of patient 2
    flat = wide.assign(x2=1.0)
    with pytest.raises(NotEstimable, match=r"^alliance at session 5 has the same value for every patient$"):
        fit_riclpm(flat, 3, constrained=True, first_session=4)
    # waves every 2 sessions from session 2: sessions 2, 4, 6 (patient 2: x = 4, 6, 8; y = 4, 1, 5)
    spaced = wide_from_long(long, patient="patient_id", session="session", x="alliance_total", y="symptoms",
                            waves=3, first=2, step=2)
    assert spaced.loc[2].tolist() == [4.0, 6.0, 8.0, 4.0, 1.0, 5.0]
    with pytest.raises(NotEstimable, match=r"^alliance at session 6 has the same value for every patient$"):
        fit_riclpm(spaced.assign(x3=1.0), 3, constrained=True, first_session=2, session_step=2)


def test_the_generators_forward_effect_is_found_and_its_absent_reverse_is_not(fitted):
    """The generator lowers the next symptoms after a session with a better alliance than the patient's
    own mean (synthetic.symptoms.within_points_per_sd = -1) and has no path back (H4b's generating 0)."""
    assert fitted["statuses"][0]["status"] == FITTED and fitted["waves"] == 4
    table = dynamics_table(fitted).set_index("effect")
    assert list(table.columns) == COLUMNS[1:]
    assert list(table.index) == [*EFFECTS.values(), "random_intercept_correlation"]
    assert table.loc["alliance_to_symptoms", "ci_high"] < 0
    assert table.loc["symptoms_to_alliance", "ci_low"] < 0 < table.loc["symptoms_to_alliance", "ci_high"]
    assert (table["n_therapists"] == 24).all() and (table["waves"] == 4).all()
    # Cluster-robust CIs: t(G - 1) on the cluster SE, not the model-based one.
    row = table.loc["alliance_to_symptoms"]
    half = stats.t.ppf(0.975, 23) * row["se"]
    assert row["ci_high"] - row["ci_low"] == pytest.approx(2 * half) and row["se"] != row["se_model"]


def test_statuses_in_words(cohort):
    scores, sessions, patients = cohort
    none = dynamics_analysis(scores, sessions.drop(columns="symptoms"), patients, {"waves": "auto"})
    assert none["statuses"][0]["status"] == NOT_ESTIMABLE and none["riclpm"] is None
    assert none["statuses"][0]["reason"] == "no symptom scores in the data"
    short = dynamics_analysis(scores, sessions, patients, {"waves": 2})
    assert short["statuses"][0]["reason"] == ("fewer than half the patients have an alliance and a symptom "
                                              "score at session 3 or later: the model needs 3 sessions")
    # a wave that no patient has, named by its session: T fixed at 4 from session 3 (the alliance first
    # given at session 3) holds session 6, where it is not given
    skipped = scores.assign(alliance_total=scores["alliance_total"].mask(scores["session"].isin([1, 2, 6])))
    gap = dynamics_analysis(skipped, sessions, patients, {"waves": 4})
    assert gap["first_session"] == 3
    assert gap["statuses"][0]["reason"] == "alliance at session 6 is recorded for no patient"
    skipped = scores.assign(alliance_total=scores["alliance_total"].mask(scores["session"] == 2))
    # T from the data starts after that session, at session 3 ...
    auto = dynamics_analysis(skipped, sessions, patients, {"waves": "auto"})
    assert auto["statuses"][0]["status"] == FITTED and auto["first_session"] == 3 and auto["waves"] >= 3
    # ... and where no three waves at any spacing have both scores (the alliance at sessions 1 and 3 only),
    # it stops before the first gap (T = 1: too few) and the reason says why, in the report's language too
    # ("alliance" once stayed in English in Spanish and Catalan)
    alternate = scores.assign(alliance_total=scores["alliance_total"].where(scores["session"].isin([1, 3])))
    auto = dynamics_analysis(alternate, sessions, patients, {"waves": "auto"})
    assert (auto["first_session"], auto["session_step"], auto["waves"], auto["statuses"][0]["reason"]) == (
        1, 1, 1, "alliance at session 2 is recorded for no patient")
    with use_language("es"):
        words = read_message(auto["statuses"][0]["reason_message"]).render(format_value)
    assert words == "alianza en la sesión 2 no consta en ningún paciente"
    therapists = patients["therapist_id"]
    few = patients.assign(therapist_id=therapists.where(therapists < "T005", "T001"))
    clusters = dynamics_analysis(scores, sessions, few, {"waves": 3})
    assert clusters["statuses"][0]["reason"] == (
        "4 therapists (fewer than 10): too few clusters for cluster-robust standard errors")
    row = dynamics_table(short)
    assert row["status"].tolist() == [NOT_ESTIMABLE] and '"template"' in row["reason_message"].iloc[0]


def _effects(forward: tuple[float, float], reverse: tuple[float, float]) -> pd.DataFrame:
    return pd.DataFrame([("symptoms_next", "alliance_within", *forward),
                         ("alliance_next", "symptom_improvement_within", *reverse)],
                        columns=["outcome", "predictor", "ci_low", "ci_high"])


def test_agreement_by_direction_by_hand():
    """Forward: a negative RI-CLPM lag and a negative H4a slope both mean better alliance, fewer symptoms.
    Reverse: a negative RI-CLPM lag (fewer symptoms, more alliance) matches a positive H4b slope (H4b's
    predictor is the improvement)."""
    rows = pd.DataFrame({"effect": ["alliance_to_symptoms", "symptoms_to_alliance"], "ci_low": [-2.0, -0.3],
                         "ci_high": [-1.0, -0.1], "session_step": 1})
    agree = agreement_sentences(rows, _effects((-1.2, -0.8), (0.1, 0.4)))
    assert agree == [
        "Alliance at a session -> symptoms at the next: the RI-CLPM and H4a agree: higher alliance was "
        "followed by fewer symptoms.",
        "Symptoms at a session -> alliance at the next: the RI-CLPM and H4b agree: improvement in symptoms "
        "was followed by a higher alliance."]
    differ = agreement_sentences(rows, _effects((-0.1, 0.3), (-0.4, -0.1)))
    assert differ[0].endswith("differ: in the RI-CLPM higher alliance was followed by fewer symptoms; in "
                              "H4a no within-patient effect of the alliance on the next symptoms was found.")
    assert "in H4b improvement in symptoms was followed by a lower alliance." in differ[1]
    assert agreement_sentences(rows, _effects((-1.2, -0.8), (0.1, 0.4)).iloc[:1]) == agree[:1]


def test_the_cross_lags_are_tests_of_the_secondary_family(fitted):
    """H4c's two cross-lagged effects join the secondary family's false-discovery-rate adjustment (their p
    had been shown without a q and counted in no family); the autoregressions and the random-intercept
    correlation are parameters of the model, not tests, and have no q."""
    table = dynamics_table(fitted)
    tests = cross_lagged_tests(table)
    assert tests[["outcome", "predictor"]].values.tolist() == [["symptoms", "alliance_to_symptoms"],
                                                               ["alliance", "symptoms_to_alliance"]]
    effects = pd.DataFrame([{"outcome": "attendance", "model": "m", "predictor": "x", "analysis": "secondary",
                             "p_value": 0.02}])
    multiplicity = multiplicity_table(pd.concat([effects, tests], ignore_index=True))
    secondary = multiplicity[multiplicity["analysis"] == "secondary"]
    assert (secondary["family_size"] == 3).all()
    expected = multipletests([0.02, *tests["p_value"]], method="fdr_bh")[1]
    np.testing.assert_allclose(secondary["q_value"], expected)
    status = pd.DataFrame([{"key": "H4c", **fitted["statuses"][0]}])
    rows = dynamics_section(fitted, _effects((-1.2, -0.8), (-0.03, 0.01)), status, multiplicity)["rows"]
    assert [row["q"] != "" for row in rows] == [True, True, False, False, False]
    assert rows[1]["q"] == format_p(expected[2])
    assert cross_lagged_tests(dynamics_table({**fitted, "riclpm": None})).empty


def test_section_in_the_reports_language(fitted):
    status = pd.DataFrame([{"key": "H4c", **fitted["statuses"][0]}])
    with use_language("es"):
        section = dynamics_section(fitted, _effects((-1.2, -0.8), (-0.03, 0.01)), status)
    assert section["not_estimated"] == "" and len(section["rows"]) == 5
    assert section["rows"][0]["effect"] == "Alianza en una sesión -> síntomas en la siguiente"
    assert "," in section["rows"][0]["estimate"] and section["rows"][0]["ci"].count(";") == 1
    # 299: one patient has no score at sessions 1 to 4
    assert section["fit"].startswith("299 pacientes de 24 terapeutas en las sesiones 1 a 4")
    assert section["agreement"][0].endswith("coinciden: una alianza más alta fue seguida de menos síntomas.")
    refused = pd.DataFrame([{"key": "H4c", "status": NOT_ESTIMABLE, "reason": "no symptom scores in the data",
                             "reason_message": ""}])
    assert dynamics_section({"riclpm": None}, _effects((0, 1), (0, 1)), refused)["not_estimated"] == (
        "H4c: not estimable. No symptom scores in the data.")
    assert dynamics_section(None, _effects((0, 1), (0, 1)), status.iloc[:0])["rows"] == []


def test_a_fit_on_fewer_patients_than_the_minimum_cell_size_is_withheld(fitted):
    """Section 8: an effect on fewer than k patients shows no numbers. H4c needs 10 therapists, so only a
    minimum cell size above 10 can meet it: the 299 patients' fit is shown at k = 299 and withheld at 300,
    in the section and its figure."""
    status = pd.DataFrame([{"key": "H4c", **fitted["statuses"][0]}])
    effects = _effects((-1.2, -0.8), (-0.03, 0.01))
    assert fitted["riclpm"]["n"] == 299
    assert reportable_dynamics(fitted, 299) is fitted
    shown = dynamics_section(reportable_dynamics(fitted, 299), effects, status)
    assert len(shown["rows"]) == 5 and shown["fit"] and shown["not_estimated"] == ""
    withheld = reportable_dynamics(fitted, 300)
    assert withheld["riclpm"] is None and fitted["riclpm"]["n"] == 299  # a copy: the result is unchanged
    assert dynamics_section(withheld, effects, status) == {
        "rows": [], "fit": "", "agreement": [],
        "not_estimated": "H4c: fitted. The estimates are withheld: they rest on fewer patients than the "
                         "minimum cell size."}
    texts = " ".join(text.get_text() for ax in dynamics_figure(withheld).axes for text in ax.texts)
    assert "too few patients" in texts and "299" not in texts
    assert not re.search(r"\d\.\d", texts)  # no estimate
    with use_language("ca"):
        assert dynamics_section(withheld, effects, status)["not_estimated"].startswith(
            "H4c: ajustat. Les estimacions no es mostren: es basen en menys pacients que la mida mínima")
    plt.close("all")


def test_an_alliance_every_third_session_makes_waves_three_sessions_apart(cohort):
    """A clinic giving the alliance questionnaire at sessions 1, 4, 7, ... (symptoms every session): the
    waves are those sessions, and the report says that each lagged effect spans three sessions."""
    scores, sessions, patients = cohort
    third = scores.assign(alliance_total=scores["alliance_total"].where(scores["session"] % 3 == 1))
    result = dynamics_analysis(third, sessions, patients, {"waves": "auto"})
    assert result["statuses"][0]["status"] == FITTED
    assert (result["first_session"], result["session_step"]) == (1, 3) and result["waves"] >= 3
    table = dynamics_table(result)
    assert (table["session_step"] == 3).all() and (table["first_session"] == 1).all()
    sessions_used = ", ".join(str(1 + 3 * wave) for wave in range(result["waves"]))
    status = pd.DataFrame([{"key": "H4c", **result["statuses"][0]}])
    section = dynamics_section(result, _effects((-1.2, -0.8), (-0.03, 0.01)), status)
    assert f"therapists over sessions {sessions_used}, the waves of the model (both scores are recorded " \
           "every 3 sessions, so each lagged effect spans 3 sessions;" in section["fit"]
    assert section["rows"][0]["effect"] == "Alliance at a wave -> symptoms at the next wave"
    assert section["agreement"][0].startswith("Alliance at a wave -> symptoms at the next wave: the RI-CLPM")
    texts = [text.get_text() for text in dynamics_figure(result).axes[0].texts]
    assert "Alliance\nsession t + 3" in texts and "Symptoms\nsession t + 3" in texts
    with use_language("es"):
        spanish = dynamics_section(result, _effects((-1.2, -0.8), (-0.03, 0.01)), status)
    assert "cada 3 sesiones" in spanish["fit"]
    # symptoms at session 7 for 3 patients only, none later: two waves with half the patients, too few
    few = sessions["patient_id"].isin(sessions["patient_id"].unique()[:3])
    late = sessions.assign(symptoms=sessions["symptoms"].where(
        (sessions["session"] < 7) | ((sessions["session"] == 7) & few)))
    short = dynamics_analysis(third, late, patients, {"waves": "auto"})
    assert (short["first_session"], short["session_step"], short["waves"]) == (1, 3, 2)
    assert short["statuses"][0]["reason"] == (
        "fewer than half the patients have an alliance and a symptom score at session 7 or later: the model "
        "needs 3 waves, here sessions 1, 4, 7 (3 sessions apart, as both scores are recorded)")


def test_a_panel_without_stable_differences_between_patients_is_an_improper_solution_in_words():
    """A cross-lagged panel with no stable level (300 patients, 4 waves): the RI-CLPM's alliance intercept
    variance is estimated at -0.11, outside the model's parameter space. Its lagged effects were once
    reported as fitted, with the random-intercept correlation left empty and no reason; now the model is
    not estimable, with the variable and the value in words."""
    rng = np.random.default_rng(2)
    x, y = np.zeros((300, 4)), np.zeros((300, 4))
    x[:, 0], y[:, 0] = rng.normal(size=300), rng.normal(size=300)
    for t in range(1, 4):
        x[:, t] = 0.5 * x[:, t - 1] + 0.1 * y[:, t - 1] + rng.normal(size=300) * 0.8
        y[:, t] = 0.5 * y[:, t - 1] + 0.1 * x[:, t - 1] + rng.normal(size=300) * 0.8
    wide = pd.DataFrame({**{f"x{t + 1}": x[:, t] for t in range(4)},
                         **{f"y{t + 1}": y[:, t] for t in range(4)}})
    fit = fit_riclpm(wide, 4, constrained=True, clusters=np.arange(300) % 15)
    assert fit["parameters"]["vkx"]["estimate"] == pytest.approx(-0.110, abs=1e-3)
    assert str(improper_reason(fit["parameters"])) == (
        "the patients' stable level of alliance has an estimated variance of -0.11, below 0 (an improper "
        "solution): these sessions show no stable differences between patients in alliance beyond what "
        "carries over from one session to the next")


def fit_with(label: str, value: float):
    """`fit_riclpm` with one parameter's estimate replaced by `value` (an improper solution planted)."""

    def fit(*args, **kwargs):
        result = fit_riclpm(*args, **kwargs)
        result["parameters"][label]["estimate"] = value
        return result

    return fit


def test_an_improper_random_intercept_is_not_estimable_and_a_first_wave_below_0_is_kept(cohort, monkeypatch):
    """Both intercept variances positive: no reason, even with the first wave's within-patient variance
    below 0 (a nuisance parameter; on the generator's joint process about a third of the cohorts' symptom
    variance at the first wave is, and the lagged effects still find their estimands). In
    `dynamics_analysis` an intercept variance below 0 is recorded as not estimable, with its reason, and
    no lagged effect is kept."""
    positive = {label: {"estimate": 0.5} for label in ("vkx", "vky", "vwx1", "vwy1", "ux", "uy", "uxy")}
    assert improper_reason(positive) is None
    assert improper_reason(positive | {"vwy1": {"estimate": -5.3}}) is None
    assert str(improper_reason(positive | {"vky": {"estimate": -0.01}})).startswith(
        "the patients' stable level of symptoms has an estimated variance of -0.01, below 0")
    monkeypatch.setattr("alliance.stats.riclpm.fit_riclpm", fit_with("vky", -0.05))
    result = dynamics_analysis(*cohort, {"waves": 3})
    assert result["riclpm"] is None
    assert result["statuses"][0]["status"] == NOT_ESTIMABLE
    assert result["statuses"][0]["reason"].startswith(
        "the patients' stable level of symptoms has an estimated variance of -0.05, below 0")


def test_a_within_patient_variance_below_0_is_flagged_beside_the_effects(cohort, monkeypatch):
    """A within-patient variance below 0 keeps the lagged effects (above) but is not reported as a clean fit
    (it was, without a word): each is a flag naming its variable and session, in the status and in the
    report's section, in the report's language. Covariances and the random intercepts are not its
    business."""
    parameters = {"vkx": {"estimate": -1.0}, "vwx1": {"estimate": 0.4}, "vwy1": {"estimate": -5.3},
                  "ux3": {"estimate": -0.2}, "uxy2": {"estimate": -0.1}, "uy2": {"estimate": 0.3}}
    flags = [str(flag) for flag in improper_within(parameters, first=2, step=3)]
    assert flags == [
        "the within-patient variance of symptoms at session 2 is estimated at -5.3, below 0 (an improper "
        "solution in a parameter the lagged effects are not read from): read the effects with care",
        "the within-patient variance of alliance at session 8 is estimated at -0.2, below 0 (an improper "
        "solution in a parameter the lagged effects are not read from): read the effects with care"]
    assert str(improper_within({"uy": {"estimate": -0.01}}, first=1, step=1)[0]).startswith(
        "the within-patient variance of symptoms at session 2 is estimated at -0.01")  # equal innovations
    assert improper_within({label: {"estimate": 0.5} for label in parameters}, first=1, step=1) == []
    monkeypatch.setattr("alliance.stats.riclpm.fit_riclpm", fit_with("vwy1", -0.25))
    result = dynamics_analysis(*cohort, {"waves": 3})
    record = result["statuses"][0]
    assert record["status"] == FITTED and result["riclpm"] is not None
    assert record["flags"].startswith("the within-patient variance of symptoms at session 1 is estimated at "
                                      "-0.25, below 0")
    status = pd.DataFrame([{"key": "H4c", **record}])
    with use_language("es"):
        section = dynamics_section(result, _effects((-1.2, -0.8), (-0.03, 0.01)), status)
    assert section["fit"].endswith("La varianza dentro del paciente de síntomas en la sesión 1 se estima en "
                                   "-0,25, por debajo de 0 (una solución impropia en un parámetro del que no "
                                   "se leen los efectos retardados): lea los efectos con cautela.")


def test_the_path_diagram_labels_every_effect_and_fits_its_canvas(fitted):
    table = dynamics_table(fitted).set_index("effect")
    fig = dynamics_figure(fitted)
    texts = [text.get_text() for text in fig.axes[0].texts]
    for effect in EFFECTS.values():
        with figure_numbers():  # as the figure writes it: a negative estimate with the minus sign
            estimate = table.loc[effect, "estimate"]
            written = format_number(estimate, estimate_digits(estimate))
        assert any(text.startswith(written) for text in texts), effect
    arrows = [child for child in fig.axes[0].get_children() if type(child).__name__ == "Annotation"]
    assert len(arrows) == 4  # two autoregressions, two cross-lags
    assert layout_problems(fig) == []
    empty = dynamics_figure({"riclpm": None})
    assert "could not be estimated" in " ".join(text.get_text() for text in empty.axes[0].texts)
