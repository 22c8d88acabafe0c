"""H5, bond, goals or tasks: recovery of a planted goal/task-specific satisfaction effect, no declared
contrast without one, the collinearity and reliability shown beside, and a status in words where the data
or the instrument cannot support it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import alliance.instruments
from alliance.errors import FITTED, NOT_ESTIMABLE, REFUSED, InstrumentError, NotEstimable
from alliance.features.build import build_features
from alliance.ingest.contract import validate_tables
from alliance.instruments import load_instrument
from alliance.models.dimension_sem import _variable, latent_dimensions, sem_frame
from alliance.models.dimensions import (
    DIMENSIONS,
    OUTCOMES,
    PARTS,
    dimension_analysis,
    dimension_columns,
    dimension_designs,
    dimension_item_means,
    dimension_reliability,
    dimension_tables,
    latent_analysis,
    latent_verdicts,
    relative_importance,
)
from alliance.models.plan import PLANNED
from alliance.models.symptoms import NO_DATA
from alliance.scoring.scores import score_patients, score_sessions
from alliance.simulation.synthetic import synthesize

COVARIATES = ["baseline_severity", "discipline"]
RUPTURES = {"criterion": "sd", "c": 2.0, "repair_window": 3, "reliability": None}
SETTINGS = {"bootstrap": 50, "latent_bootstrap": 9999, "seed": 11}
LIGHT = {"bootstrap": 20, "latent_bootstrap": 999, "seed": 1}
NO_DIMENSION_EFFECTS = {f"{outcome}_{d}_{unit}_per_sd": 0.0 for outcome, unit in
                        (("satisfaction", "points"), ("dropout", "log_odds")) for d in DIMENSIONS}


def staged(default_config, wai_sr, csq8, **changes) -> tuple[pd.DataFrame, dict]:
    """Patient features and item means of a synthetic cohort, through validation and scoring."""
    cfg = default_config["synthetic"] | {"truth_multiplier": 1} | changes
    patients, sessions, outcomes, _ = synthesize(cfg, 3, COVARIATES)
    raw = {"patients": patients, "sessions": sessions, "outcomes": outcomes}
    v = validate_tables(raw, {k: f"{k}.csv" for k in raw}, wai_sr, satisfaction=csq8)
    scores = score_sessions(v.sessions, wai_sr)
    features = build_features(v.patients, v.outcomes, scores, patient_scores=score_patients(v.outcomes, csq8),
                              early_window=3, rupture_settings=RUPTURES, total_alpha=None)["patients"]
    return features, dimension_item_means(v.sessions, scores, wai_sr, 3)


def importance(result: dict, outcome: str) -> dict:
    return {row["term"]: row for row in result["outcomes"][outcome]["importance"]["rows"]}


@pytest.fixture(scope="module")
def cohort(default_config, wai_sr, csq8):
    """The default cohort's generator (goal and task each 1.0 CSQ-8 point per SD of their specific
    deviation, the bond none), 400 patients: features and item means."""
    return staged(default_config, wai_sr, csq8, seed=21)


@pytest.fixture(scope="module")
def planted(cohort, wai_sr):
    features, items = cohort
    return dimension_analysis(features, COVARIATES, SETTINGS, instrument=wai_sr, item_means=items)


def test_a_planted_goal_and_task_effect_on_satisfaction_is_found(planted, default_config, wai_sr):
    effects = default_config["synthetic"]["effects"]
    assert effects["satisfaction_goal_points_per_sd"] == effects["satisfaction_task_points_per_sd"] > 0
    assert effects["satisfaction_bond_points_per_sd"] == 0
    shares = importance(planted, "satisfaction")
    assert shares["goal_task_minus_bond"]["ci_low"] > 0  # the plan's contrast, declared
    assert shares["bond"]["estimate"] < min(shares["goal"]["estimate"], shares["task"]["estimate"])
    assert sum(shares[d]["estimate"] for d in DIMENSIONS) == pytest.approx(1)
    rows = pd.DataFrame(planted["effects"]).set_index(["outcome", "part", "dimension"])
    alone = rows.loc[("satisfaction", "H5a")]
    assert (alone["ci_low"] > 0).all()  # each dimension alone carries the general alliance too
    joint = rows.loc[("satisfaction", "H5b")]
    assert joint.loc["bond", "estimate"] < min(joint.loc["goal", "estimate"], joint.loc["task", "estimate"])
    latent = planted["outcomes"]["satisfaction"]["latent"]  # H5d: goal and task weighted over bond
    assert latent["declared"] and latent["equal_paths"]["p"] <= latent["equal_paths"]["q"] < 0.05
    assert latent["contrast"]["ci_low"] > 0
    assert latent["paths"]["bond"]["estimate"] < min(latent["paths"][d]["estimate"] for d in ("goal", "task"))
    assert latent["n_therapists"] == 32 and latent["equal_paths"]["draws"] == 9999
    assert latent["equal_paths"]["weights"] == "Rademacher"  # 32 therapists: 2^32 distinct draws
    assert latent["fit"]["cfi"] > 0.95 and latent["fit"]["rmsea"] < 0.06  # the model the generator follows
    statuses = {s["key"]: s["status"] for s in planted["statuses"]}
    assert set(statuses) == {p.key for p in PLANNED if p.family == "dimensions"}
    assert set(statuses.values()) <= {FITTED, "boundary"}
    assert planted["unmapped_items"] == [] and planted["instrument"] == wai_sr.name  # all 12 in a dimension


def test_collinearity_and_reliability_are_stated(planted):
    detail = planted["outcomes"]["satisfaction"]
    assert all(0.6 < r < 0.9 for r in detail["correlations"].values())  # the subscales' usual .7-.8
    assert all(1.5 < v < 5 for v in detail["vif"].values())
    effects, table, latent = dimension_tables(planted)
    assert effects.loc[effects["part"] == "H5b", "vif"].notna().all()
    assert effects.loc[effects["part"] == "H5a", "vif"].isna().all()
    assert set(table["outcome"]) == set(OUTCOMES) and len(table) == 4 * 7
    assert set(latent["outcome"]) == set(OUTCOMES) and len(latent) == 4 * 4
    row = latent.set_index(["outcome", "term"]).loc[("satisfaction", "goal_task_minus_bond")]
    assert row["estimate"] == planted["outcomes"]["satisfaction"]["latent"]["contrast"]["estimate"]
    # the latent dimensions are corrected for unreliability: they correlate more than the scores
    latent_r = planted["outcomes"]["satisfaction"]["latent"]["correlations"]
    assert all(latent_r[pair] > detail["correlations"][pair] for pair in latent_r)
    reliability = detail["reliability"]
    alphas = {d: reliability["dimensions"][d]["alpha"] for d in DIMENSIONS}
    assert all(0.8 < a < 1 for a in alphas.values())
    r = detail["correlations"]["bond_goal"]
    expected = (alphas["bond"] + alphas["goal"] - 2 * r) / (2 - 2 * r)
    assert reliability["differences"]["goal_minus_bond"]["reliability"] == pytest.approx(expected)
    # a difference is less reliable than either score
    assert expected < min(alphas["bond"], alphas["goal"])


def test_without_dimension_effects_no_contrast_is_declared(default_config, wai_sr, csq8):
    """A general alliance effect only, on 1600 patients: the shares are about a third each and the
    planned contrast's CI covers 0 (a bias of the shares would show at this size)."""
    effects = default_config["synthetic"]["effects"] | NO_DIMENSION_EFFECTS
    features, items = staged(default_config, wai_sr, csq8, seed=22, n_patients=1600, n_therapists=64,
                             effects=effects)
    for outcome in ("satisfaction", "dropout"):  # the relative importance (H5c) and the latent model (H5d)
        spec = OUTCOMES[outcome]
        columns = dimension_columns(features, spec.predictor)
        _, joint = dimension_designs(spec, features, COVARIATES, columns)
        rows = relative_importance(spec, joint, columns, draws=50, seed=3)["rows"]
        shares = {row["term"]: row for row in rows}
        contrast = shares["goal_task_minus_bond"]
        assert contrast["ci_low"] < 0 < contrast["ci_high"], outcome
        assert all(0.15 < shares[d]["estimate"] < 0.5 for d in DIMENSIONS), outcome
        latent = latent_analysis(spec, joint, columns, items[spec.predictor], wai_sr, draws=999, seed=1)
        assert latent["equal_paths"]["p"] > 0.05, outcome  # not declared, even before the adjustment
        assert latent["contrast"]["ci_low"] < 0 < latent["contrast"]["ci_high"], outcome


@pytest.mark.parametrize("outcome", ["dropout", "satisfaction"])
def test_the_draws_fitted_at_once_give_the_shares_of_draws_fitted_one_by_one(cohort, outcome, monkeypatch):
    """The bootstrap fits its draws in one batch (`draw_weights`); with the batch holding none, every draw
    is fitted alone: the same CIs, on the default cohort's binomial and linear outcomes."""
    from alliance.models import dimensions

    features, _ = cohort
    spec = OUTCOMES[outcome]
    columns = dimension_columns(features, spec.predictor)
    _, joint = dimension_designs(spec, features, COVARIATES, columns)
    batched = relative_importance(spec, joint, columns, draws=40, seed=8)
    monkeypatch.setattr(dimensions, "draw_weights", lambda *args: (None, np.zeros(40, dtype=bool)))
    alone = relative_importance(spec, joint, columns, draws=40, seed=8)
    assert batched["failed_draws"] == alone["failed_draws"] == 0
    assert [row["term"] for row in batched["rows"]] == [row["term"] for row in alone["rows"]]
    numbers = np.array([[row[key] for key in ("estimate", "ci_low", "ci_high")] for row in batched["rows"]])
    assert numbers == pytest.approx(np.array([[row[key] for key in ("estimate", "ci_low", "ci_high")]
                                              for row in alone["rows"]]), rel=1e-9, abs=1e-12)


def test_latent_verdicts_adjust_over_the_outcomes_by_hand():
    """Benjamini-Hochberg over four tests, by hand: sorted p .01, .03, .04, .50 give q = min over the larger
    ranks of p m / rank: .04, .0533, .0533, .50; only the first is declared at .05."""
    verdicts = latent_verdicts({"attendance": 0.01, "dropout": 0.04, "satisfaction": 0.03,
                                "symptom_improvement": 0.5})
    assert {k: v["q"] for k, v in verdicts.items()} == pytest.approx(
        {"attendance": 0.04, "dropout": 0.16 / 3, "satisfaction": 0.16 / 3, "symptom_improvement": 0.5})
    assert [k for k, v in verdicts.items() if v["declared"]] == ["attendance"]
    assert latent_verdicts({"satisfaction": 0.03}) == {"satisfaction": {"q": 0.03, "declared": True}}
    assert latent_verdicts({}) == {}


def test_the_bootstrap_is_deterministic_and_the_hand_case_of_difference_reliability(planted, wai_sr):
    items = pd.DataFrame({wai_sr.item_column(i): [1.0, 2, 3, 4, 5] for i in range(1, 13)},
                         index=list("abcde"))
    # items equal within each dimension: alpha 1 each; r = .5 -> (1 + 1 - 1) / (2 - 1) = 1
    out = dimension_reliability(items, pd.Series(list("abcde")), wai_sr,
                                {"bond_goal": 0.5, "bond_task": 0.5, "goal_task": 0.5})
    assert out["dimensions"]["bond"]["alpha"] == pytest.approx(1.0)
    assert out["differences"]["task_minus_goal"]["reliability"] == pytest.approx(1.0)
    assert "not items" in dimension_reliability(None, pd.Series(["a"]), wai_sr, {})["reason"]


def test_an_instrument_without_the_three_dimensions_is_refused_in_one_sentence(planted, wai_sr):
    features = pd.DataFrame({"patient_id": ["a"], "therapist_id": ["t"], "alliance_early": [3.0],
                             "alliance_mean": [3.0]})
    haq = load_instrument("haq_ii")
    result = dimension_analysis(features, COVARIATES, SETTINGS, instrument=haq)
    assert result["effects"] == [] and len(result["statuses"]) == 16
    assert {s["status"] for s in result["statuses"]} == {REFUSED}
    assert {s["reason"] for s in result["statuses"]} == {
        f"the alliance instrument ({haq.name}) does not score Bordin's bond, goal and task dimensions"}


def test_the_few_cluster_threshold_of_the_config_reaches_h5(planted, cohort, wai_sr):
    """H5a and H5b take `models.min_clusters` as the primary models do: below it the few-cluster correction
    and its flag, from it the plain sandwich (they had taken the default 50 whatever the config said)."""
    def flagged(result: dict) -> set[str]:
        return {s["key"] for s in result["statuses"] if s["key"].startswith(("H5a", "H5b"))
                and "Few clusters" in s["flags"]}

    assert len(flagged(planted)) == 8  # 32 therapists, the default 50
    features, items = cohort
    plain = dimension_analysis(features, COVARIATES, LIGHT, instrument=wai_sr, item_means=items,
                               min_clusters=20)
    assert flagged(plain) == set()


def test_bootstrap_draws_whose_shares_are_undefined_are_said_so(cohort, wai_sr, monkeypatch):
    """Draws that fit but leave nothing explained have shares of 0 / 0: the reason says so (it had read "0
    of 200 therapist bootstrap draws could not be fitted", contradicting itself)."""
    from alliance.models import dimensions

    def nothing_explained(kind, response, base, dims, counts, codes, solutions):
        return np.full((len(counts), dims.shape[1]), np.nan), np.ones(len(counts), dtype=bool)

    monkeypatch.setattr(dimensions, "draw_weights", nothing_explained)
    features, items = cohort
    statuses = {s["key"]: s for s in dimension_analysis(features, COVARIATES, LIGHT, instrument=wai_sr,
                                                        item_means=items)["statuses"]}
    draws = LIGHT["bootstrap"]
    assert statuses["H5c-satisfaction"]["reason"] == (
        f"in {draws} of {draws} therapist bootstrap draws the three dimensions explain nothing beyond the "
        "covariates, so their shares are undefined: no CI")


def test_a_constant_dimension_and_absent_symptoms_get_reasons_in_words(default_config, wai_sr, csq8):
    features, items = staged(default_config, wai_sr, csq8, seed=23, n_patients=160, n_therapists=16)
    features = features.drop(columns=[c for c in features.columns if c.startswith("symptom")])
    features["alliance_bond_mean"] = np.where(features["alliance_bond_mean"].notna(), 4.0, np.nan)
    result = dimension_analysis(features, COVARIATES, LIGHT, instrument=wai_sr, item_means=items)
    statuses = {s["key"]: s for s in result["statuses"]}
    for part in PARTS:
        assert statuses[f"{part}-satisfaction"]["status"] == NOT_ESTIMABLE
        reason = statuses[f"{part}-satisfaction"]["reason"]
        assert reason.startswith("mean bond score takes a single value (4) in the satisfaction analysis "
                                 "sample")
        assert statuses[f"{part}-symptom_improvement"]["reason"] == str(NO_DATA)
        if part != "H5d":
            assert statuses[f"{part}-dropout"]["status"] in (FITTED, "boundary")
    assert statuses["H5d-dropout"]["status"] == NOT_ESTIMABLE  # 160 patients: too few for 31 parameters
    assert statuses["H5d-dropout"]["reason"] == ("148 patients for the latent model's 31 parameters (fewer "
                                                 "than 5 per parameter)")
    again = dimension_analysis(features, COVARIATES, LIGHT, instrument=wai_sr, item_means=items)
    assert again == result  # the same seed, the same draws
    few = features[features["therapist_id"].isin(sorted(features["therapist_id"].unique())[:8])]
    statuses = {s["key"]: s for s in dimension_analysis(few, COVARIATES, LIGHT, instrument=wai_sr,
                                                        item_means=items)["statuses"]}
    for part in ("H5c", "H5d"):
        assert statuses[f"{part}-dropout"]["status"] == NOT_ESTIMABLE
        assert statuses[f"{part}-dropout"]["reason"].startswith("8 therapists in the analysis sample (fewer "
                                                                "than 10)")
    assert statuses["H5a-dropout"]["status"] in (FITTED, "boundary")


def test_instruments_map_their_items_to_the_three_dimensions(tmp_path, wai_sr):
    assert wai_sr.dimensions == {"task": (1, 2, 10, 12), "bond": (3, 5, 7, 9), "goal": (4, 6, 8, 11)}
    assert load_instrument("srs").dimensions == {"bond": (1,), "goal": (2,), "task": (3,)}
    assert load_instrument("haq_ii").dimensions == {}
    spec = yaml.safe_load((Path(alliance.instruments.__file__).parent / "srs.yaml").read_text())
    for wrong, words in (({"bond": [1], "goal": [2]}, "must map exactly bond, goal, task"),
                         ({"bond": [1], "goal": [1], "task": [3]}, "each in at most one dimension"),
                         ({"bond": [1], "goal": [2], "task": [9]}, "must name existing items")):
        (tmp_path / "mine.yaml").write_text(yaml.safe_dump(spec | {"key": "mine", "dimensions": wrong}))
        with pytest.raises(InstrumentError, match=words):
            load_instrument(tmp_path / "mine.yaml")


def test_dimensions_mapped_by_items_are_scored_from_the_item_means(cohort, planted, wai_sr):
    """An instrument whose subscales are not the dimensions (as the SRS's) gets its dimension scores from
    the patients' item means: on the WAI-SR's items mapped so, the same effects as from its subscales."""
    features, items = cohort
    one_scale = replace(wai_sr, subscales={"all": tuple(range(1, 13))}, dimensions=wai_sr.dimensions)
    without = features.drop(columns=[c for c in features.columns
                                     if c.startswith(tuple(f"alliance_{d}_" for d in DIMENSIONS))])
    result = dimension_analysis(without, COVARIATES, SETTINGS, instrument=one_scale, item_means=items)
    ours = pd.DataFrame(result["effects"]).set_index(["outcome", "part", "dimension"])["estimate"]
    theirs = pd.DataFrame(planted["effects"]).set_index(["outcome", "part", "dimension"])["estimate"]
    assert ours.index.equals(theirs.index)
    assert np.abs(ours - theirs).max() < 0.05  # item means vs subscale scores: prorated items differ
    ours = result["outcomes"]["satisfaction"]["latent"]["contrast"]["estimate"]
    assert ours == pytest.approx(planted["outcomes"]["satisfaction"]["latent"]["contrast"]["estimate"])
    prescored = dimension_analysis(without, COVARIATES, SETTINGS, instrument=one_scale, item_means={})
    assert {s["status"] for s in prescored["statuses"]} == {NOT_ESTIMABLE}
    assert "pre-scored alliance totals" in prescored["statuses"][0]["reason"]


def test_the_latent_model_says_when_the_dimensions_cannot_be_told_apart(cohort, planted, wai_sr):
    """H5d's refusals in words: identical dimensions (every goal and task item a copy of a bond item), one
    item per dimension (the SRS), no variation left in an item."""
    features, items = cohort
    spec = OUTCOMES["satisfaction"]
    columns = dimension_columns(features, spec.predictor)
    _, joint = dimension_designs(spec, features, COVARIATES, columns)
    means = items[spec.predictor].copy()
    for dimension in ("goal", "task"):
        for bond, other in zip(wai_sr.dimensions["bond"], wai_sr.dimensions[dimension], strict=True):
            means[wai_sr.item_column(other)] = means[wai_sr.item_column(bond)]
    with pytest.raises(NotEstimable, match=r"^the latent bond and goal dimensions correlate at 1\.0\d in "
                       r"this sample: the dimensions are not distinct, so a dimension-specific effect "
                       r"cannot be told apart from the general alliance$"):
        latent_analysis(spec, joint, columns, means, wai_sr, draws=999, seed=1)
    one_item = replace(wai_sr, name="SRS", dimensions={"bond": (3,), "goal": (4,), "task": (1,)})
    with pytest.raises(NotEstimable, match=r"^SRS measures bond by 1 item, goal by 1 item, task by 1 item: "
                       r"a latent dimension needs at least 3 items$"):
        latent_analysis(spec, joint, columns, items[spec.predictor], one_item, draws=999, seed=1)
    flat = items[spec.predictor].assign(**{wai_sr.item_column(7): 4.0})
    with pytest.raises(NotEstimable, match=r"^no variation left in item 7 once the covariates"):
        latent_analysis(spec, joint, columns, flat, wai_sr, draws=999, seed=1)
    assert [str(_variable(name)) for name in ("i7", "y", "O")] == ["item 7", "the outcome",
                                                             "the latent goal dimension"]
    with pytest.raises(NotEstimable, match="not the item answers"):
        latent_analysis(spec, joint, columns, None, wai_sr, draws=999, seed=1)
    data, complete = sem_frame(items[spec.predictor].reindex(joint.data["patient_id"]),
                               joint.data["satisfaction"].to_numpy(float), np.ones((len(joint.data), 1)),
                               wai_sr)
    assert complete.all() and np.allclose(data.std(ddof=1), 1) and np.allclose(data.mean(), 0)
    therapists = joint.data["therapist_id"].to_numpy()
    again = latent_dimensions(data, therapists, wai_sr, draws=999, rng=np.random.default_rng(1))
    assert again == latent_dimensions(data, therapists, wai_sr, draws=999, rng=np.random.default_rng(1))


def test_pre_scored_alliance_gets_the_reason_of_pre_scored_data(cohort, wai_sr):
    """A reviewer's pre-scored cohorts: with subscale scores but no items, H5d said "No variation left in
    item 3, item 5, ..."; with totals only, every H5 part said that no patient had a scored alliance
    session beside H1-H3 fitted on the same totals. Each now says what the data hold."""
    features, items = cohort
    no_items = {window: frame.where(frame.isna()) for window, frame in items.items()}  # every item empty
    result = dimension_analysis(features, COVARIATES, LIGHT, instrument=wai_sr, item_means=no_items)
    statuses = {s["key"]: s for s in result["statuses"]}
    assert statuses["H5d-satisfaction"]["reason"] == ("the data hold scored subscales, not the item answers "
                                                      "the latent dimensions are measured by")
    assert statuses["H5a-satisfaction"]["status"] in (FITTED, "boundary")
    dimensions = [c for c in features.columns if c.startswith(tuple(f"alliance_{d}" for d in DIMENSIONS))]
    totals = features.assign(**{column: np.nan for column in dimensions})
    result = dimension_analysis(totals, COVARIATES, LIGHT, instrument=wai_sr, item_means=None)
    assert result["effects"] == [] and len(result["statuses"]) == 16
    assert {s["reason"] for s in result["statuses"]} == {
        f"the data hold pre-scored alliance totals, not the item answers the dimensions of {wai_sr.name} are "
        "scored from"}
