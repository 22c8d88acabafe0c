"""The one-stage analysis of a network's combined data from the sites' aggregates
(`alliance.network.aggregates`), held against statsmodels' fit of the combined rows on the pipeline's own
primary models (ANALYSIS_PLAN.md, section 11, "One stage from aggregates")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM

from alliance.models.adherence import attendance_design
from alliance.models.dropout import dropout_design
from alliance.network.aggregates import SENT, WITHHELD, one_stage, raw_design, site_aggregates
from alliance.simulation.pooling_check import primary_per_point
from alliance.simulation.synthetic import generate_cohort, generated_features

COVARIATES = ["baseline_severity", "discipline"]
K = 5
FITTED = pd.DataFrame({"outcome": ["attendance", "dropout", "satisfaction"], "analysis": "primary",
                       "status": "fitted"})
DESIGNS = {"attendance": attendance_design, "dropout": dropout_design}


@pytest.fixture(scope="module")
def cohort(default_config) -> pd.DataFrame:
    """Three sites of about 420 patients and 21 therapists, without between-site variance."""
    cfg = default_config["synthetic"] | {"n_patients": 1260, "n_therapists": 63, "n_sites": 3,
                                         "site_effect_sd": 0.0}
    patients, sessions, outcomes, _ = generate_cohort(cfg, 3, np.random.default_rng(19))
    return generated_features(patients, sessions, outcomes, 3)


def combined_fit(features: pd.DataFrame, outcome: str) -> tuple[float, float]:
    """statsmodels' GLM of the combined rows on the raw scale, SEs clustered by therapist (CR1): the alliance
    coefficient per point and its SE."""
    design = DESIGNS[outcome](features, COVARIATES)
    x, _, _ = raw_design(design, features)
    data = design.data
    if outcome == "attendance":
        y = np.column_stack([data["attended_after_window"], data["missed_after_window"]]).astype(float)
    else:
        y = np.column_stack([data["dropout_event"], 1 - data["dropout_event"]]).astype(float)
    fit = GLM(y, x, family=families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(data["therapist_id"], sort=True)[0]})
    return float(fit.params[1]), float(fit.bse[1])


def parts_of(features: pd.DataFrame, outcome: str) -> list[dict]:
    return [site_aggregates(group, COVARIATES, FITTED, K)[outcome]
            for _, group in features.groupby("site", sort=True)]


@pytest.mark.parametrize("outcome", ["attendance", "dropout"])
def test_the_sites_sums_give_the_combined_rows_fit(cohort, outcome):
    """Three sites' aggregates give statsmodels' fit of all their rows together (estimate within 0.05 of
    its SE); expanded only to second order (the information-weighted mean of the sites' estimates, a
    fixed-effect multivariate meta-analysis) the logistic estimate is further off. The clustered SE, each
    site's score outer product moved to the common estimate with the shift shared equally by its
    therapists (`site_meat`), is within 5% of statsmodels' and closer to it than left at the sites' own
    estimates."""
    parts = parts_of(cohort, outcome)
    assert [part["status"] for part in parts] == [SENT] * 3
    estimate, se = combined_fit(cohort, outcome)
    result = one_stage(parts, min_clusters=50)
    assert result["status"] == "fitted" and result["k_sites"] == 3 and result["smallest_site"] >= 300
    assert abs(result["estimate"] - estimate) < 0.05 * se
    assert result["std_error"] == pytest.approx(se, rel=0.05)
    unmoved = one_stage([part | {"n_therapists": 10**12} for part in parts], 50)  # U_s U_s' / G -> 0
    assert abs(result["std_error"] / se - 1) < abs(unmoved["std_error"] / se - 1)
    second = one_stage([{key: value for key, value in part.items() if key != "third"} for part in parts], 50)
    assert abs(second["estimate"] - estimate) > 3 * abs(result["estimate"] - estimate)
    # 63 therapists, fewer than 70: the CI on t(62)
    few = one_stage(parts, min_clusters=70)
    assert few["few_clusters"] and not result["few_clusters"]
    assert few["ci_high"] - few["estimate"] == pytest.approx(1.99897 * few["std_error"], rel=1e-5)


def test_a_site_without_the_first_category_is_mapped_to_the_common_reference(cohort):
    """A site without nutrition patients has osteopathy as its reference level: its intercept and
    discipline effects are mapped to the common ones (nutrition the reference), and the combined fit is
    still reproduced."""
    first = sorted(cohort["site"].unique())[0]
    features = cohort[~((cohort["site"] == first) & (cohort["discipline"] == "nutrition"))]
    parts = parts_of(features, "dropout")
    assert parts[0]["references"] == {"discipline": "osteopathy"}
    assert parts[1]["references"] == {"discipline": "nutrition"}
    estimate, se = combined_fit(features, "dropout")
    assert abs(one_stage(parts, 50)["estimate"] - estimate) < 0.05 * se


def test_one_site_gives_its_own_primary_estimates(cohort):
    """One site's sums give its own primary effects per point, as the pipeline fits them (the linear mixed
    model of satisfaction included), and statsmodels' CR1 SE of the logistic models."""
    site = cohort[cohort["site"] == sorted(cohort["site"].unique())[0]]
    own = primary_per_point(site, COVARIATES)[0].set_index("outcome")
    aggregates = site_aggregates(site, COVARIATES, FITTED, K)
    for outcome in ("attendance", "dropout", "satisfaction"):
        result = one_stage([aggregates[outcome]], min_clusters=10)
        assert result["estimate"] == pytest.approx(own.loc[outcome, "estimate_per_point"], rel=1e-8), outcome
    for outcome in DESIGNS:
        assert one_stage([aggregates[outcome]], 10)["std_error"] == pytest.approx(
            combined_fit(site, outcome)[1], rel=1e-6)


def test_sums_over_too_few_are_withheld_with_a_reason(cohort):
    """A model is withheld when the site's own model was not fitted, or its sample has fewer than k
    patients or therapists, or a category of fewer than k patients (its indicator's sums would describe
    them): reasons as keys, no text from the data."""
    site = cohort[cohort["site"] == cohort.loc[cohort["discipline"] == "nutrition", "site"].mode()[0]]
    nutrition = site[site["discipline"].eq("nutrition")]
    first, second = nutrition["therapist_id"].value_counts().index[:2]
    kept = nutrition.index[nutrition["therapist_id"] == first][:4]
    few = site[site["discipline"].ne("nutrition") | site.index.isin(kept)]
    assert site_aggregates(few, COVARIATES, FITTED, 4)["attendance"]["status"] == SENT
    assert site_aggregates(few, COVARIATES, FITTED, 5)["attendance"] == {"status": WITHHELD,
                                                                         "reason": "small_category"}
    # two therapists in a category, one with fewer than k of its patients: the clustered outer product's
    # entries of that category are their two score sums, equal and opposite (one over fewer than k)
    pair = site[site["discipline"].ne("nutrition") | site.index.isin(kept)
                | site.index.isin(nutrition.index[nutrition["therapist_id"] == second])]
    small = int(pair.loc[pair["discipline"].eq("nutrition"), "therapist_id"].value_counts().min())
    assert site_aggregates(pair, COVARIATES, FITTED, small)["attendance"]["status"] == SENT
    assert site_aggregates(pair, COVARIATES, FITTED, small + 1)["attendance"] == {
        "status": WITHHELD, "reason": "small_therapist_share"}
    statuses = FITTED.assign(status=["fitted", "separation", "fitted"])
    assert site_aggregates(site, COVARIATES, statuses, K)["dropout"] == {"status": WITHHELD,
                                                                         "reason": "not_fitted"}
    therapists = site["therapist_id"].nunique()
    few_therapists = site_aggregates(site, COVARIATES, FITTED, therapists + 1)
    assert few_therapists["attendance"]["reason"] == "few_therapists"
    patients = site_aggregates(site, COVARIATES, FITTED, len(site) + 1)
    assert {entry["reason"] for entry in patients.values()} == {"few_patients"}


def test_a_site_of_one_discipline_is_mapped_through_its_intercept(cohort):
    """A site whose patients all have one discipline leaves the discipline out of its model (one level):
    its intercept holds that discipline's effect, and the combined fit is still reproduced."""
    first = sorted(cohort["site"].unique())[0]
    features = cohort[(cohort["site"] != first) | (cohort["discipline"] == "psychotherapy")]
    parts = parts_of(features, "dropout")
    assert parts[0]["references"] == {"discipline": "psychotherapy"}
    assert [column for column, _ in parts[0]["parameters"]] == ["(intercept)", "alliance_early",
                                                                "baseline_severity"]
    estimate, se = combined_fit(features, "dropout")
    assert abs(one_stage(parts, 50)["estimate"] - estimate) < 0.05 * se


def network(cohort: pd.DataFrame, covariates: dict[str, list[str]] | None = None,
            instruments: dict[str, str] | None = None) -> list:
    """The cohort's sites as bundles holding their aggregates only (each with its own covariates and
    instrument key where given)."""
    from alliance.network.bundle import EFFECT_COLUMNS, Bundle

    bundles = []
    for site, group in cohort.groupby("site", sort=True):
        used = (covariates or {}).get(site, COVARIATES)
        info = {"site": site, "min_cell_size": K, "settings": {"early_window": 3, "min_clusters": 50},
                "instrument": {"key": (instruments or {}).get(site, "wai_sr")}}
        text = ("outcome", "model", "predictor", "scale", "analysis", "status")
        effects = pd.DataFrame({c: pd.Series(dtype=object if c in text else float) for c in EFFECT_COLUMNS})
        bundles.append(Bundle(f"{site}.zip", effects, pd.DataFrame(),
                              pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), info,
                              site_aggregates(group, used, FITTED, K)))
    return bundles


def test_the_coordinator_computes_it_only_for_one_model_on_one_scale(cohort):
    """`one_stage.csv`: fitted for the sites' common model; not computed, with the reason, where the sites'
    models adjust for different covariates, their instruments differ (their points are not one unit) or
    no site sent the model's sums; a site that sent none is named with its reason."""
    from alliance.network.pooling import one_stage_table

    sites = sorted(cohort["site"].unique())
    table = one_stage_table(network(cohort)).set_index("outcome")
    assert (table["k_sites"] == 3).all()
    assert (table.loc[["attendance", "dropout"], "status"] == "fitted").all()
    # satisfaction is asked at the end of treatment: its sites analysed fewer than 300 patients each
    assert table.loc["satisfaction", "smallest_site"] < 300 and table.loc["satisfaction", "status"] == (
        "approximate") and table.loc["satisfaction", "reason"].startswith("approximate: a site analysed")
    assert table.loc["dropout", "estimate"] == pytest.approx(
        one_stage(parts_of(cohort, "dropout"), 50)["estimate"])
    other = one_stage_table(network(cohort, covariates={sites[0]: ["baseline_severity"]}))
    assert set(other["reason"]) == {"the sites' models adjusted for different covariates"}
    mixed = one_stage_table(network(cohort, instruments={sites[0]: "wai_s"}))
    assert set(mixed["status"]) == {"not_computed"} and mixed["reason"].str.contains("instruments").all()
    alone = network(cohort)
    alone[1].aggregates["dropout"] = {"status": "withheld", "reason": "few_therapists"}
    row = one_stage_table(alone).set_index("outcome").loc["dropout"]
    assert row["k_sites"] == 2
    assert row["sites_withheld"] == f"{sites[1]}: fewer therapists than its minimum cell size"
    for bundle in alone:
        bundle.aggregates = {}
    assert set(one_stage_table(alone)["reason"]) == {"no site sent this model's aggregates"}


def test_sites_of_one_discipline_that_no_other_site_has_are_pooled(cohort):
    """A site whose patients all have a discipline that no other site has (or two such sites, each with
    its own) sends its reference level only: the common model gains that level, identified by the site's
    intercept, and the combined fit is reproduced (a reviewer's KeyError)."""
    from alliance.network.pooling import one_stage_table

    sites = sorted(cohort["site"].unique())
    alone = cohort[((cohort["site"] == sites[0]) & cohort["discipline"].eq("psychotherapy"))
                   | ((cohort["site"] != sites[0]) & cohort["discipline"].ne("psychotherapy"))]
    parts = parts_of(alone, "dropout")
    assert parts[0]["references"] == {"discipline": "psychotherapy"}
    estimate, se = combined_fit(alone, "dropout")
    assert abs(one_stage(parts, 50)["estimate"] - estimate) < 0.05 * se
    two = alone[(alone["site"] == sites[0])
                | ((alone["site"] == sites[1]) & alone["discipline"].eq("physiotherapy"))
                | ((alone["site"] == sites[2]) & alone["discipline"].isin(["osteopathy", "nutrition"]))]
    table = one_stage_table(network(two)).set_index("outcome")
    assert [part["references"] for part in parts_of(two, "dropout")][:2] == [
        {"discipline": "psychotherapy"}, {"discipline": "physiotherapy"}]
    assert table.loc["dropout", "status"] in ("fitted", "approximate")
    assert table.loc["dropout", "k_sites"] == 3


def test_a_satisfaction_model_with_its_therapist_variance_at_zero_gives_exact_counts_as_said(cohort):
    """With the therapist variance at 0 the information is X'X / sigma^2: with the patients' number it
    gives each category's exact count (each at least k). The model is sent (withheld, 1.45 of 10 sites'
    satisfaction sums were missing on average), and WHAT_LEAVES_THE_SITE.md says so."""
    from alliance.network.bundle import AGGREGATE_WORDS

    site = cohort[cohort["site"] == sorted(cohort["site"].unique())[0]].copy()
    noise = np.random.default_rng(3).normal(0, 3, len(site))
    noise -= pd.Series(noise, index=site.index).groupby(site["therapist_id"]).transform("mean").to_numpy()
    site["satisfaction"] = 20 + 2 * site["alliance_mean"] + noise  # no therapist differences at all
    entry = site_aggregates(site, COVARIATES, FITTED, K)["satisfaction"]
    assert entry["status"] == SENT
    information = np.asarray(entry["information"])
    counts = information.diagonal()[3:] / information[0, 0] * entry["n_patients"]
    levels = [level for _, level in entry["parameters"][3:]]
    expected = site.dropna(subset=["satisfaction"])["discipline"].value_counts()[levels].to_numpy()
    assert counts == pytest.approx(expected, abs=1e-6)
    assert "exact, each at least {k}, where the satisfaction model's therapist variance" in AGGREGATE_WORDS


def test_two_categorical_covariates_crossing_in_a_small_cell_are_withheld(cohort):
    """With gender beside discipline, the information's entry of a discipline and a gender is a sum over
    the patients of both: a cell of 1 to k - 1 patients (here one woman in nutrition) would give a single
    patient's alliance away (the entry with the alliance over the entry alone)."""
    site = cohort[cohort["site"] == cohort.loc[cohort["discipline"] == "nutrition", "site"].mode()[0]]
    nutrition = site.index[site["discipline"].eq("nutrition")]
    one = site.assign(gender=np.where(site.index == nutrition[0], "female",
                                      np.where(site["discipline"].eq("nutrition"), "male", site["gender"])))
    covariates = [*COVARIATES, "gender"]
    assert site_aggregates(one, covariates, FITTED, K)["attendance"] == {
        "status": WITHHELD, "reason": "small_crossed_category"}
    assert site_aggregates(site, covariates, FITTED, 1)["attendance"]["status"] == SENT
