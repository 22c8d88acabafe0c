"""Psychometrics: published reference values, hand-computed cases and recovery of known structures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin
import pytest
import yaml
from semopy.examples import holzinger39

from alliance.errors import BOUNDARY, FITTED, NOT_CONVERGED, NOT_ESTIMABLE
from alliance.i18n import use_language
from alliance.instruments import load_instrument
from alliance.measurement.psychometrics import (
    CFA_NOT_CONVERGED,
    FIT_COLUMNS,
    HEYWOOD,
    ONE_FACTOR,
    cfa_compare,
    cronbach_alpha,
    description,
    fit_cfa,
    item_statistics,
    keyed_items,
    omega_total,
    rater_agreement,
    reliability_by_sessions,
    scale_reliability,
    session_icc,
    spearman_brown,
    therapist_icc,
)
from alliance.measurement.tables import COLUMNS
from alliance.report.format import format_value

HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


def instrument_from_yaml(tmp_path, **spec):
    """An instrument written to a YAML file and loaded like a user's definition."""
    spec = {"key": "demo", "score": "mean", "total": "mean_of_subscales", "reverse_keyed": [],
            "prorate": {"max_missing_per_subscale": 1}} | spec
    path = tmp_path / f"{spec['key']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load_instrument(str(path))


@pytest.fixture
def small(tmp_path):
    """Five items 1-5: subscale a = items 1, 2; subscale b = items 3, 4, 5 with item 5 reversed."""
    return instrument_from_yaml(tmp_path, items=5, response={"min": 1, "max": 5}, reverse_keyed=[5],
                                subscales={"a": [1, 2], "b": [3, 4, 5]})


def three_factor_items(instrument, n=1500, loading=0.7, factor_r=0.6, seed=11) -> pd.DataFrame:
    """Continuous items: one factor per subscale, correlated factor_r, standardized loadings `loading`."""
    rng = np.random.default_rng(seed)
    k = len(instrument.subscales)
    corr = np.full((k, k), factor_r) + (1 - factor_r) * np.eye(k)
    factors = rng.multivariate_normal(np.zeros(k), corr, size=n)
    items = pd.DataFrame(index=range(n), columns=instrument.item_columns, dtype=float)
    for f, members in enumerate(instrument.subscales.values()):
        for item in members:
            noise = rng.normal(0, np.sqrt(1 - loading**2), n)
            items[instrument.item_column(item)] = 3 + loading * factors[:, f] + noise
    return items


# Keys and alpha --------------------------------------------------------------------------------------


def test_keyed_items_reverses_haq_ii_style_items(tmp_path):
    """HAq-II: 19 items 1-6, items 4, 8, 11, 16, 19 reversed as 7 - x."""
    haq = instrument_from_yaml(tmp_path, key="haq", items=19, response={"min": 1, "max": 6},
                               reverse_keyed=[4, 8, 11, 16, 19], subscales={"alliance": list(range(1, 20))})
    answers = pd.DataFrame([[1] * 19, [6] * 19, list(range(1, 7)) * 3 + [None]], columns=haq.item_columns,
                           dtype="Int64")
    keyed = keyed_items(answers.assign(patient_id="P1"), haq)
    reversed_columns = [haq.item_column(i) for i in (4, 8, 11, 16, 19)]
    assert list(keyed.columns) == haq.item_columns  # other columns are left out
    assert (keyed.loc[0, reversed_columns] == 6).all() and (keyed.loc[1, reversed_columns] == 1).all()
    assert (keyed.loc[0].drop(reversed_columns) == 1).all()
    assert keyed.loc[2, "haq_04"] == 7 - 4 and keyed.loc[2, "haq_08"] == 7 - 2
    assert keyed.loc[2, "haq_03"] == 3 and np.isnan(keyed.loc[2, "haq_19"])


def test_cronbach_alpha_matches_pingouin_documentation():
    data = pingouin.read_dataset("cronbach_wide_missing")
    assert cronbach_alpha(data, nan_policy="pairwise")[0] == pytest.approx(0.732660835, abs=1e-9)
    assert cronbach_alpha(data, nan_policy="listwise")[0] == pytest.approx(0.80169, abs=1e-5)


def test_cronbach_alpha_hand_computed():
    data = pd.DataFrame({"i1": [1.0, 2, 3, 4], "i2": [2.0, 2, 4, 5], "i3": [2.0, 3, 3, 5]})
    k = data.shape[1]
    item_variances = sum(np.var(data[c], ddof=1) for c in data)
    expected = k / (k - 1) * (1 - item_variances / np.var(data.sum(axis=1), ddof=1))
    # by hand: item variances 5/3, 2.25, 1.5833; variance of the sum (5, 7, 10, 14) = 46 / 3
    assert expected == pytest.approx(1.5 * (1 - 5.5 / (46 / 3)))
    assert cronbach_alpha(data)[0] == pytest.approx(expected, abs=1e-12)


# Scales and items ------------------------------------------------------------------------------------


def test_scale_reliability_listwise_per_scale(small):
    rng = np.random.default_rng(3)
    answers = np.clip(np.round(3 + rng.normal(0, 1, (60, 1)) + rng.normal(0, 0.8, (60, 5))), 1, 5)
    answers[:, 4] = 6 - answers[:, 4]  # item 5 is worded in reverse
    items = pd.DataFrame(answers, columns=small.item_columns)
    items.iloc[:5, 0] = np.nan  # item 1 (subscale a) missing in 5 rows
    items.iloc[:2, 4] = np.nan  # item 5 (subscale b) missing in 2 of them
    table = scale_reliability(items, small).set_index("scale")
    assert list(table.index) == ["a", "b", "total"]
    assert table["n"].tolist() == [55, 58, 55]
    assert table["n_items"].tolist() == [2, 3, 5]
    keyed = items.assign(demo_05=6 - items["demo_05"])
    b = keyed[["demo_03", "demo_04", "demo_05"]].dropna()
    assert table.loc["b", "alpha"] == pytest.approx(cronbach_alpha(b)[0])
    assert np.isnan(table.loc["a", "omega"])
    score = b.mean(axis=1)
    assert table.loc["b", "floor_share"] == pytest.approx((score == 1).mean())
    assert table.loc["b", "ceiling_share"] == pytest.approx((score == 5).mean())
    assert table.loc["b", "skew"] == pytest.approx(float(pd.Series(score).skew()))  # same estimator


def test_scale_floor_and_ceiling_hand_computed(small):
    items = pd.DataFrame([[5, 5, 5, 5, 1], [5, 5, 5, 4, 1], [1, 1, 1, 1, 5], [1, 2, 3, 3, 3]],
                         columns=small.item_columns, dtype=float)
    table = scale_reliability(items, small).set_index("scale")
    # keyed item 5: 5, 5, 1, 3; scale b scores 5, 4.667, 1, 3; scale a scores 5, 5, 1, 1.5
    assert table.loc["b", ["floor_share", "ceiling_share"]].tolist() == [0.25, 0.25]
    assert table.loc["a", ["floor_share", "ceiling_share"]].tolist() == [0.25, 0.5]
    assert np.isnan(table.loc["total", "omega"])  # 4 rows for 5 items: no CFA, and a note says why
    assert "Omega of 'total' was not estimated: it needs more questionnaires complete on its items than " \
           "its 10 free parameters." in map(str, table.attrs["notes"])


def test_a_scale_no_questionnaire_completes_says_why_it_has_no_reliability(small):
    """An item never answered (a clinic's CSQ-8 without item 8, a reviewer's probe) leaves its scales with
    no complete questionnaire: the table read "0 8 NA NA NA NA NA" without a word. A note names the item;
    where the questionnaires each miss another item, it says only that none is complete."""
    items = pd.DataFrame(np.tile([4.0, 3, 4, 2, 3], (6, 1)), columns=small.item_columns)
    items["demo_05"] = np.nan
    table = scale_reliability(items, small).set_index("scale")
    assert table["n"].tolist() == [6, 0, 0]
    notes = [str(note) for note in table.attrs["notes"] if "fewer than two" in str(note)]
    assert notes == [
        f"'{scale}' of demo: fewer than two questionnaires answer all of its {n} items, so its reliability, "
        "score distribution and item-rest correlations are not computed (NA); never answered: demo_05."
        for scale, n in (("b", 3), ("total", 5))]
    staggered = pd.DataFrame(np.tile([4.0, 3, 4, 2, 3], (5, 1)), columns=small.item_columns)
    for row in range(5):
        staggered.iloc[row, row] = np.nan
    notes = [str(note) for note in scale_reliability(staggered, small).attrs["notes"]
             if "'total' of demo: fewer" in str(note)]
    assert notes == ["'total' of demo: fewer than two questionnaires answer all of its 5 items, so its "
                     "reliability, score distribution and item-rest correlations are not computed (NA)."]


def test_item_statistics_hand_computed(small):
    items = pd.DataFrame([[1, 2, 5, 4, 1], [2, 2, 4, 4, 2], [3, 4, 2, 3, 4], [5, 5, 1, None, 5],
                          [4, 5, 3, 2, 3]], columns=small.item_columns, dtype=float)
    stats = item_statistics(items, small).set_index("item")
    assert stats["subscale"].tolist() == ["a", "a", "b", "b", "b"]
    assert stats["n"].tolist() == [5, 5, 5, 4, 5]
    # item 5 is reported keyed (6 - x): 5, 4, 2, 1, 3
    assert stats.loc["demo_05", "mean"] == pytest.approx(3.0)
    assert stats.loc["demo_05", "sd"] == pytest.approx(np.sqrt(2.5))
    assert stats.loc["demo_05", "floor_share"] == pytest.approx(0.2)
    assert stats.loc["demo_01", "ceiling_share"] == pytest.approx(0.2)
    # a two-item subscale: the rest score is the other item
    assert stats.loc["demo_01", "corrected_r_subscale"] == pytest.approx(
        np.corrcoef([1, 2, 3, 5, 4], [2, 2, 4, 5, 5])[0, 1])
    # item 3 against the mean of items 4 and keyed 5, on the 4 rows where item 4 is answered
    rest = (np.array([4, 4, 3, 2]) + np.array([5, 4, 2, 3])) / 2
    assert stats.loc["demo_03", "corrected_r_subscale"] == pytest.approx(
        np.corrcoef([5, 4, 2, 3], rest)[0, 1])
    total_rest = np.array([[1, 2, 4, 5], [2, 2, 4, 4], [3, 4, 3, 2], [4, 5, 2, 3]]).mean(axis=1)
    assert stats.loc["demo_03", "corrected_r_total"] == pytest.approx(
        np.corrcoef([5, 4, 2, 3], total_rest)[0, 1])


def test_item_statistics_recover_corrected_item_total_correlations(wai_sr):
    stats = item_statistics(three_factor_items(wai_sr), wai_sr).set_index("item")
    assert list(stats.index) == wai_sr.item_columns
    assert stats.loc[["wai_sr_01", "wai_sr_03", "wai_sr_04"], "subscale"].tolist() == ["task", "bond", "goal"]
    # population correlations of the generating model: 1 on the diagonal, .49 within, .294 across factors
    factor_of = {i: f for f, members in enumerate(wai_sr.subscales.values()) for i in members}
    labels = np.array([factor_of[i] for i in range(1, 13)])
    corr = np.where(labels[:, None] == labels[None, :], 0.49, 0.49 * 0.6)
    np.fill_diagonal(corr, 1.0)

    def rest_r(i: int, others: np.ndarray) -> float:
        return corr[i, others].sum() / np.sqrt(corr[np.ix_(others, others)].sum())

    for i, column in enumerate(wai_sr.item_columns):
        own = np.flatnonzero((labels == labels[i]) & (np.arange(12) != i))
        assert stats.loc[column, "corrected_r_subscale"] == pytest.approx(rest_r(i, own), abs=0.04)
        assert stats.loc[column, "corrected_r_total"] == pytest.approx(
            rest_r(i, np.delete(np.arange(12), i)), abs=0.04)
    assert (stats["n"] == 1500).all() and (stats["mean"] - 3).abs().max() < 0.1


# Factor analysis -------------------------------------------------------------------------------------


def test_cfa_matches_lavaan_on_holzinger_swineford():
    """lavaan's cfa() tutorial example (ML, n = 301), to the precision lavaan prints."""
    fit = fit_cfa(holzinger39.get_data(), HS_MODEL)
    assert fit["status"] == FITTED and fit["reason"] is None and fit["n"] == 301 and fit["dof"] == 24
    assert round(fit["chi2"], 3) == 85.306  # semopy's chi2 is n * F_ML, like lavaan's (not n - 1)
    assert round(fit["cfi"], 3) == 0.931
    assert round(fit["tli"], 3) == 0.896
    assert round(fit["rmsea"], 3) == 0.092
    assert round(fit["srmr"], 3) == 0.065
    assert round(fit["baseline_chi2"], 3) == 918.852 and fit["baseline_dof"] == 36
    assert round(fit["loglik"], 3) == -3737.745
    assert round(fit["aic"], 3) == 7517.490
    assert round(fit["bic"], 3) == 7595.339
    est = fit["estimates"]
    loadings = est[est["op"] == "~"].set_index("lval")["Est. Std"]
    lavaan_std_all = [0.772, 0.424, 0.581, 0.852, 0.855, 0.838, 0.570, 0.723, 0.665]
    # to the digit lavaan prints: at semopy's own stop x1, x3 and x7 read .771, .582 and .569 (its largest
    # gradient element 4e-4); Fisher scoring takes the fit to the optimum (gradient 8e-7)
    assert loadings[[f"x{i}" for i in range(1, 10)]].round(3).tolist() == lavaan_std_all


def heywood_omega(items: pd.DataFrame, item: str) -> tuple[pd.Series, float]:
    """The maximum likelihood of a one-factor model with `item`'s residual variance at 0, by hand: the
    factor is that item, so each other item's standardized loading is its correlation with it (its
    regression on the item; the other residuals independent given it), and omega of the items' sum follows
    from the loadings and residual variances in the items' units (factor variance 1)."""
    cov = items.cov()
    raw = cov[item] / np.sqrt(cov.loc[item, item])
    residual = np.diag(cov) - raw**2  # 0 for `item`
    common = raw.sum() ** 2
    return items.corr()[item], float(common / (common + residual.sum()))


def test_a_heywood_case_is_fitted_at_its_boundary_and_says_so():
    """Four items, 40 questionnaires: the likelihood's unconstrained maximum has a negative residual
    variance (i1's; a standardised loading of 2.01, omega 1.02). The fit is the maximum with that variance
    at 0, which has a closed form (`heywood_omega`): semopy's own bounded solution had stopped short of it
    (omega .6273) and was kept under its solver's verdict."""
    rng = np.random.default_rng(16)
    factor = rng.normal(size=40)
    items = pd.DataFrame({f"i{j}": load * factor + np.sqrt(1 - load**2) * rng.normal(size=40)
                          for j, load in enumerate([0.7, 0.6, 0.5, 0.3])})
    loadings, omega = heywood_omega(items, "i1")
    fit = fit_cfa(items, description({ONE_FACTOR: list(items.columns)}))
    assert fit["status"] == BOUNDARY and fit["reason"] is None and HEYWOOD in fit["notes"]
    fitted = fit["estimates"].query("op == '~'").set_index("lval")["Est. Std"]
    assert fitted.to_numpy() == pytest.approx(loadings[fitted.index].to_numpy(), abs=1e-6)
    variances = fit["estimates"].query("op == '~~' and lval == rval")["Estimate"]
    assert variances.min() == 0 and fit["dof"] == 2  # the variance at its bound is still a parameter
    result = omega_total(items)
    assert result["omega"] == pytest.approx(omega, abs=1e-7) and HEYWOOD in result["notes"]


def test_an_item_that_hardly_loads_does_not_stop_the_fit():
    """Four items of 40 questionnaires loading .19 to .36: with the first item's loading fixed at 1 (semopy's
    default) and that item hardly loading, Fisher scoring ran off (loadings in the thousands, the factor's
    variance towards 0) and the fit was shown as "not converged" with its omega. With the factor's variance
    fixed at 1 it reaches the maximum, here at b's boundary, whose closed form it matches."""
    rng = np.random.default_rng(0)
    n = rng.choice([15, 25, 40])
    factor, loading = rng.normal(size=n), rng.uniform(0, 0.6, 4)
    items = pd.DataFrame(np.round(np.clip(3 + factor[:, None] * loading + rng.normal(size=(n, 4)), 1, 5)),
                         columns=list("abcd"))
    result = omega_total(items)
    assert result["reason"] is None and HEYWOOD in result["notes"]
    assert result["omega"] == pytest.approx(heywood_omega(items, "b")[1], abs=1e-7)


def test_a_fit_that_does_not_converge_gives_no_numbers(wai_sr, monkeypatch):
    """Where Fisher scoring does not reach the optimum, neither omega nor the factor models' fit indices
    and loadings are shown (they were, marked "(not converged)"): the reason is said instead."""
    items = three_factor_items(wai_sr, n=300)
    monkeypatch.setattr("alliance.measurement.psychometrics.fisher_scoring", lambda model: False)
    fit = fit_cfa(items, description({ONE_FACTOR: wai_sr.item_columns}))
    assert fit["status"] == NOT_CONVERGED and fit["reason"] == CFA_NOT_CONVERGED
    assert all(np.isnan(fit[name]) for name in FIT_COLUMNS if name not in ("n", "dof", "status"))
    table = scale_reliability(items, wai_sr)
    assert table["omega"].isna().all() and table["alpha"].notna().all()
    assert "Omega of 'bond' was not estimated: the estimation did not reach the maximum of the likelihood " \
           "(too few questionnaires for the model, or items that hardly relate to each other)." \
           in map(str, table.attrs["notes"])
    fits, loadings = cfa_compare(items, wai_sr)
    assert fits.empty and loadings.empty
    assert any(str(note).startswith("The one-factor model has no estimates: the estimation did not reach")
               for note in fits.attrs["notes"])


def test_fit_cfa_keeps_semopy_messages_as_notes_in_words(capfd):
    rows = [[5, 5, 5, 5, 1], [5, 5, 5, 4, 1], [1, 1, 1, 1, 5], [1, 2, 3, 3, 3]]
    data = pd.DataFrame(rows, columns=["a", "b", "c", "d", "e"], dtype=float)
    fit = fit_cfa(data, "f =~ a + b + c + d + e")
    # 4 rows, 5 items: semopy used a near-PD matrix and says so in its own words, which are translated
    notes = [str(note) for note in fit["notes"]]
    assert any("not positive definite" in note and "nearest" in note for note in notes)
    assert not any("PD." in note or "semopy" in note for note in notes)
    assert capfd.readouterr().err == ""
    with use_language("es"):  # in the report's language too (they were English in every report)
        assert fit["notes"][0].render(format_value).startswith(
            "la matriz de covarianzas muestrales de los ítems no es definida positiva")


def test_cfa_compare_needs_more_questionnaires_than_parameters(wai_sr):
    fits, params = cfa_compare(three_factor_items(wai_sr, n=24), wai_sr)
    assert fits.empty and list(fits.columns) == ["model", *FIT_COLUMNS] and params.empty
    notes = [str(note) for note in fits.attrs["notes"]]
    assert "The one-factor model was not fitted: it needs more questionnaires complete on its items than " \
           "its 24 free parameters." in notes
    assert any("correlated-factors model was not fitted" in note and "27 free parameters" in note
               for note in notes)
    fits, _ = cfa_compare(three_factor_items(wai_sr, n=25), wai_sr)  # 25 > 24: the one-factor model only
    assert fits["model"].tolist() == ["one_factor"]


def test_cfa_and_omega_refuse_an_item_without_variance(wai_sr):
    items = three_factor_items(wai_sr, n=200).assign(wai_sr_03=5.0)
    fits, _ = cfa_compare(items, wai_sr)
    assert fits.empty
    constant = "wai_sr_03 had the same answer in every complete questionnaire"
    assert any(constant in str(note) for note in fits.attrs["notes"])
    table = scale_reliability(items, wai_sr).set_index("scale")
    assert np.isnan(table.loc["bond", "omega"]) and np.isfinite(table.loc["task", "omega"])
    assert "Omega of 'bond' was not estimated: wai_sr_03 had the same answer in every complete " \
           "questionnaire." in map(str, table.attrs["notes"])
    with use_language("ca"):
        assert "No s'ha ajustat el model d'un factor: wai_sr_03 ha tingut la mateixa resposta en tots els " \
               "qüestionaris complets." in [note.render(format_value) for note in fits.attrs["notes"]]


def test_cfa_compare_recovers_three_correlated_factors(wai_sr):
    items = three_factor_items(wai_sr)
    fits, params = cfa_compare(items, wai_sr)
    fits = fits.set_index("model")
    correlated, one = fits.loc["correlated_factors"], fits.loc["one_factor"]
    assert (fits["status"] == FITTED).all() and (fits["n"] == 1500).all()
    assert correlated["dof"] == 51 and one["dof"] == 54
    assert correlated["cfi"] > 0.95 and correlated["rmsea"] < 0.06
    assert one["chi2"] > correlated["chi2"] and one["cfi"] < correlated["cfi"]
    assert one["aic"] > correlated["aic"] and one["srmr"] > correlated["srmr"]
    mine = params[params["model"] == "correlated_factors"]
    loads = mine[mine["kind"] == "loading"]
    assert len(loads) == 12 and set(loads["factor"]) == {"task", "bond", "goal"}
    assert loads.set_index("item").loc["wai_sr_03", "factor"] == "bond"
    assert np.abs(loads["std_loading"] - 0.7).max() < 0.05
    correlations = mine[mine["kind"] == "factor_correlation"]
    assert len(correlations) == 3 and np.abs(correlations["std_loading"] - 0.6).max() < 0.05
    assert (params.loc[params["model"] == "one_factor", "factor"] == "general").all()


def test_omega_is_the_reliability_of_the_items_sum():
    """Omega is the reliability of the scale score, the items' unweighted sum: (sum l)^2 / ((sum l)^2 + sum
    theta) in the items' units. Loadings 2, 1, .5, .3 and residual variances 1, 1, .05, .2 give .8652;
    the standardized loadings' omega (of a sum of z-scored items, which the pipeline never scores) is
    .8584, outside the tolerance a sample of 20,000 allows."""
    rng = np.random.default_rng(7)
    n = 20_000
    factor = rng.normal(size=n)
    loadings, residual = np.array([2.0, 1.0, 0.5, 0.3]), np.array([1.0, 1.0, 0.05, 0.2])
    items = pd.DataFrame(factor[:, None] * loadings + rng.normal(size=(n, 4)) * np.sqrt(residual),
                         columns=["a", "b", "c", "d"])
    truth = loadings.sum() ** 2 / (loadings.sum() ** 2 + residual.sum())
    standardized = loadings / np.sqrt(loadings**2 + residual)
    wrong = standardized.sum() ** 2 / (standardized.sum() ** 2 + (1 - standardized**2).sum())
    assert truth == pytest.approx(0.8652, abs=1e-4) and wrong == pytest.approx(0.8584, abs=1e-4)
    omega = omega_total(items)["omega"]
    assert omega == pytest.approx(truth, abs=0.003)
    # the sample's own sum: omega against the observed variance of the sum, as a check on the units
    total = items.sum(axis=1).var(ddof=0)
    assert omega == pytest.approx(1 - residual.sum() / total, abs=0.005)


def test_omega_recovers_known_reliability(wai_sr):
    table = scale_reliability(three_factor_items(wai_sr), wai_sr).set_index("scale")
    theory = (4 * 0.7) ** 2 / ((4 * 0.7) ** 2 + 4 * (1 - 0.49))
    assert table.loc[["task", "bond", "goal"], "omega"].to_numpy() == pytest.approx([theory] * 3, abs=0.03)
    assert table.attrs["notes"] == []  # every omega estimated, none at a boundary
    # equal loadings: alpha estimates the same reliability
    assert table.loc[["task", "bond", "goal"], "alpha"].to_numpy() == pytest.approx([theory] * 3, abs=0.03)
    assert (table["alpha_ci_low"] < table["alpha"]).all() and (table["alpha"] < table["alpha_ci_high"]).all()


def test_cfa_compare_skips_correlated_model_without_two_subscales(tmp_path):
    single = instrument_from_yaml(tmp_path, items=5, response={"min": 1, "max": 5},
                                  subscales={"a": [1, 2, 3, 4], "b": [5]})
    rng = np.random.default_rng(5)
    common = rng.normal(size=(400, 1))
    items = pd.DataFrame(3 + 0.7 * common + rng.normal(0, 0.7, (400, 5)), columns=single.item_columns)
    fits, params = cfa_compare(items, single)
    assert fits["model"].tolist() == ["one_factor"]
    notes = " ".join(map(str, fits.attrs["notes"]))
    assert "'b' has fewer than 2 items" in notes and "correlated-factors model is skipped" in notes
    assert len(params) == 5 and (params["kind"] == "loading").all()


# Intraclass correlations -----------------------------------------------------------------------------


def clustered(icc: float, n_groups: int, per_group: int, seed: int, group="therapist_id") -> pd.DataFrame:
    """Values with a known ICC: a normal group intercept plus normal noise (total variance 1)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), per_group)
    values = 4 + rng.normal(0, np.sqrt(icc), n_groups)[groups] + rng.normal(0, np.sqrt(1 - icc), len(groups))
    return pd.DataFrame({group: [f"G{g:03d}" for g in groups], "value": values})


@pytest.mark.parametrize("true_icc", [0.10, 0.30])
def test_therapist_icc_recovers_known_value(true_icc):
    data = clustered(true_icc, n_groups=60, per_group=15, seed=int(true_icc * 100))
    data.loc[0, "value"] = np.nan  # dropped
    result = therapist_icc(data, n_boot=100, seed=1)
    assert result["converged"] and result["n_boot"] == 100
    assert result["n_patients"] == 899 and result["n_therapists"] == 60
    assert abs(result["icc"] - true_icc) < 0.06
    assert result["ci_low"] < true_icc < result["ci_high"]
    assert result["icc"] == pytest.approx(
        result["therapist_variance"] / (result["therapist_variance"] + result["residual_variance"]))


def test_therapist_icc_not_estimable_says_why():
    one_each = clustered(0.2, n_groups=40, per_group=1, seed=3)
    two = clustered(0.2, n_groups=2, per_group=30, seed=3)
    single = clustered(0.2, n_groups=1, per_group=30, seed=3)
    equal = clustered(0.2, n_groups=5, per_group=4, seed=3).assign(value=4.0)
    empty = one_each.iloc[:0]
    reasons = {"one patient per therapist: the therapist variance cannot be told apart": one_each,
               "2 therapists: a variance between therapists needs at least 3": two,
               "a single therapist: there is no variance between therapists": single,
               "all 20 values are equal": equal, "there are no patients with an alliance score": empty}
    for reason, data in reasons.items():
        result = therapist_icc(data, n_boot=10, seed=1)
        assert result["status"] == NOT_ESTIMABLE and result["reason"].startswith(reason)
        values = [result[k] for k in ("icc", "ci_low", "ci_high", "therapist_variance", "residual_variance")]
        assert np.isnan(values).all() and result["n_boot"] == 0 and not result["converged"]
    assert therapist_icc(two, n_boot=10)["n_therapists"] == 2


def test_therapist_icc_at_the_boundary_says_so():
    rng = np.random.default_rng(0)
    groups = np.repeat([f"T{i}" for i in range(6)], 10)
    values = rng.normal(0, 1, 60)
    values -= pd.Series(values).groupby(groups).transform("mean").to_numpy()  # equal therapist means
    result = therapist_icc(pd.DataFrame({"therapist_id": groups, "value": values + 4}), n_boot=20, seed=1)
    assert result["status"] == BOUNDARY and result["icc"] == 0 and result["therapist_variance"] == 0
    assert "estimated at 0, the boundary of its range" in result["reason"]
    assert result["ci_low"] == 0 and result["ci_high"] > 0 and result["n_boot"] == 20


def test_fitted_icc_has_status_and_no_reason():
    result = therapist_icc(clustered(0.3, n_groups=20, per_group=10, seed=5), n_boot=10, seed=1)
    assert result["status"] == FITTED and result["reason"] == ""


def test_therapist_icc_bootstrap_is_reproducible():
    data = clustered(0.2, n_groups=30, per_group=10, seed=7)
    first, again = therapist_icc(data, n_boot=30, seed=4), therapist_icc(data, n_boot=30, seed=4)
    other = therapist_icc(data, n_boot=30, seed=5)
    assert (first["ci_low"], first["ci_high"]) == (again["ci_low"], again["ci_high"])
    assert (first["ci_low"], first["ci_high"]) != (other["ci_low"], other["ci_high"])
    assert first["icc"] == other["icc"]


def test_session_icc_equals_anova_estimate_when_balanced():
    """With balanced groups, REML equals the one-way ANOVA estimator (when MSB > MSW)."""
    values = np.array([[3.0, 3.5, 4.0], [4.5, 4.0, 5.0], [2.0, 2.5, 2.0], [3.5, 4.5, 4.0]])
    n, k = values.shape
    msb = k * ((values.mean(axis=1) - values.mean()) ** 2).sum() / (n - 1)
    msw = ((values - values.mean(axis=1, keepdims=True)) ** 2).sum() / (n * (k - 1))
    expected = (msb - msw) / (msb + (k - 1) * msw)
    sessions = pd.DataFrame({"patient_id": np.repeat(["A", "B", "C", "D"], k), "value": values.ravel()})
    result = session_icc(sessions)
    assert result["converged"] and result["n_sessions"] == 12 and result["n_patients"] == 4
    assert result["icc"] == pytest.approx(expected, abs=1e-4)
    assert result["residual_variance"] == pytest.approx(msw, rel=1e-3)
    assert result["patient_variance"] == pytest.approx((msb - msw) / k, rel=1e-3)


def test_reliability_by_sessions_is_spearman_brown_of_session_icc():
    sessions = clustered(0.45, n_groups=300, per_group=8, seed=2, group="patient_id")
    sessions.loc[:9, "value"] = np.nan
    table = reliability_by_sessions(sessions, max_sessions=6)
    single = table.attrs["session_icc"]
    assert single["n_sessions"] == 2390 and abs(single["icc"] - 0.45) < 0.05
    assert table["sessions"].tolist() == [1, 2, 3, 4, 5, 6]
    assert table.loc[0, "reliability"] == pytest.approx(single["icc"])
    m, r = 4, single["icc"]
    assert table.loc[3, "reliability"] == pytest.approx(m * r / (1 + (m - 1) * r))
    assert table["reliability"].is_monotonic_increasing


def test_reliability_by_sessions_not_estimable_with_one_session_per_patient():
    sessions = clustered(0.45, n_groups=50, per_group=1, seed=2, group="patient_id")
    table = reliability_by_sessions(sessions, max_sessions=4)
    assert table["reliability"].isna().all() and table["session_icc"].isna().all()
    assert (table["status"] == NOT_ESTIMABLE).all()
    assert table["reason"].iloc[0] == ("one session per patient: the patient variance cannot be told apart "
                                       "from the variance between sessions")
    fitted = reliability_by_sessions(clustered(0.45, n_groups=50, per_group=3, seed=2, group="patient_id"))
    assert (fitted["status"] == FITTED).all() and (fitted["reason"] == "").all()
    assert fitted["session_icc"].iloc[0] == pytest.approx(fitted.attrs["session_icc"]["icc"])


def test_spearman_brown_by_hand():
    assert spearman_brown(0.5, 1) == 0.5
    assert spearman_brown(0.5, 3) == pytest.approx(0.75)  # 1.5 / 2
    assert spearman_brown(0.77, 4) == pytest.approx(3.08 / 3.31)  # >= .90 from four sessions


# Agreement -------------------------------------------------------------------------------------------


# Bland & Altman (2007), Table 1: cardiac output (l/min) by radionuclide ventriculography (RV) and
# impedance cardiography (IC), 12 subjects, 60 pairs taken together (data of Bowling et al. 1993; also
# Bland & Altman 1999, Table 4, and R's MethComp `cardiac`).
CARDIAC_OUTPUT = {  # subject: (RV, IC)
    1: ([7.83, 7.42, 7.89, 7.12, 7.88], [6.57, 5.62, 6.90, 6.57, 6.35]),
    2: ([6.16, 7.26, 6.71, 6.54], [4.06, 4.29, 4.26, 4.09]),
    3: ([4.75, 5.24, 4.86, 4.78, 6.05, 5.42], [4.71, 5.50, 5.08, 5.02, 6.01, 5.67]),
    4: ([4.21, 3.61, 3.72, 3.87, 3.92], [4.14, 4.20, 4.61, 4.68, 5.04]),
    5: ([3.13, 2.98, 2.85, 3.17, 3.09, 3.12], [3.03, 2.86, 2.77, 2.46, 2.32, 2.43]),
    6: ([5.92, 6.42, 5.92, 6.27], [5.90, 5.81, 5.70, 5.76]),
    7: ([7.13, 6.62, 6.58, 6.93], [5.09, 4.63, 4.61, 5.09]),
    8: ([4.54, 4.81, 5.11, 5.29, 5.39, 5.57], [4.72, 4.61, 4.36, 4.20, 4.36, 4.20]),
    9: ([4.48, 4.92, 3.97], [3.17, 3.12, 2.96]),
    10: ([4.22, 4.65, 4.74, 4.44, 4.50], [4.35, 4.62, 3.16, 3.53, 3.53]),
    11: ([6.78, 6.07, 6.52, 6.42, 6.41, 5.76], [7.20, 6.09, 7.00, 7.10, 7.40, 6.80]),
    12: ([5.06, 4.72, 4.90, 4.80, 4.90, 5.10], [4.50, 4.20, 3.80, 3.80, 4.20, 4.50]),
}


def ratings(patient_id, patient, therapist) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": patient_id, "patient": patient, "therapist": therapist})


def cardiac_output() -> pd.DataFrame:
    """Bland & Altman's (2007) pairs with RV as the "patient" and IC as the "therapist" rating (RV - IC)."""
    return pd.concat([ratings(subject, rv, ic) for subject, (rv, ic) in CARDIAC_OUTPUT.items()],
                     ignore_index=True)


def test_rater_agreement_columns_are_the_documented_ones():
    result = rater_agreement(cardiac_output())
    assert list(result) == COLUMNS["agreement"]


def test_repeated_measures_r_published_bakdash_marusich():
    # Bakdash & Marusich (2017), pH and PaCO2 of 8 subjects (47 pairs), as bundled with pingouin:
    # r_rm = -0.507, df = 38, 95% CI [-0.71, -0.23].
    data = pingouin.read_dataset("rm_corr")
    result = rater_agreement(ratings(data["Subject"], data["pH"], data["PacO2"]))
    assert result["rm_r"] == pytest.approx(-0.507, abs=5e-4)
    assert result["rm_df"] == 38 and result["rm_n_patients"] == 8
    assert (result["rm_ci_low"], result["rm_ci_high"]) == pytest.approx((-0.71, -0.23), abs=5e-3)
    # R's rmcorr (>= 0.5.4, Fisher z on df + 2; its test snapshot on these data): -0.7067146 to -0.2318631
    assert (result["rm_ci_low"], result["rm_ci_high"]) == pytest.approx((-0.7067146, -0.2318631), abs=1e-7)
    assert (result["rm_status"], result["rm_reason"]) == (FITTED, "")
    reference = pingouin.rm_corr(data, x="pH", y="PacO2", subject="Subject").iloc[0]
    assert result["rm_r"] == pytest.approx(reference["r"], rel=1e-12)


def test_repeated_measures_r_matches_pingouin_with_single_pairs_and_missing_ratings():
    rng = np.random.default_rng(11)
    sizes = np.r_[rng.integers(2, 9, 30), np.ones(6, dtype=int)]  # 6 patients with one pair
    ids = np.repeat([f"P{i:02d}" for i in range(len(sizes))], sizes)
    level = rng.normal(0, 1, len(sizes))[np.searchsorted(np.unique(ids), ids)]
    patient = level + rng.normal(0, 1, len(ids))
    data = ratings(ids, patient, level + 0.4 * patient + rng.normal(0, 1, len(ids)))
    data.loc[[0, 1], "therapist"] = np.nan  # P00 loses two pairs
    result = rater_agreement(data)
    complete = data.dropna()
    reference = pingouin.rm_corr(complete, x="patient", y="therapist", subject="patient_id").iloc[0]
    assert result["rm_r"] == pytest.approx(reference["r"], rel=1e-10)
    assert result["rm_df"] == reference["dof"]  # patients with one pair add one pair and one intercept
    assert result["rm_n_patients"] == (complete["patient_id"].value_counts() >= 2).sum()
    assert result["n_pairs"] == len(complete) and result["n_patients"] == complete["patient_id"].nunique()


def test_limits_of_agreement_published_bland_altman_2007():
    # Bland & Altman (2007), true value varies (their section 5, Tables 2-3): one-way ANOVA of RV - IC on
    # subject, residual MS 0.170714026, subject MS 4.2090856, divisor (60^2 - sum m_i^2) / (11 * 60) =
    # 4.9818182, total variance 0.98133606, SD 0.99062408, mean 0.6021667, limits -1.3394565 to 2.5437899.
    # (Values as reproduced by Huizinga's Bland-Altman-Analysis demo for MATLAB and by other implementations'
    # test suites.) The published variances agree with exact arithmetic to about 7 significant digits.
    data = cardiac_output()
    difference = data["patient"] - data["therapist"]
    assert difference.std() == pytest.approx(0.9610571, abs=5e-8)  # the paper's SD ignoring subjects
    result = rater_agreement(data)
    assert result["n_pairs"] == 60 and result["n_patients"] == 12
    assert result["mean_difference"] == pytest.approx(0.6021667, abs=5e-8)
    assert result["sd_within"] ** 2 == pytest.approx(0.170714026, rel=1e-6)
    assert result["sd_between"] ** 2 == pytest.approx((4.2090856 - 0.170714026) / 4.9818182, rel=1e-6)
    assert result["sd_difference"] ** 2 == pytest.approx(0.98133606, rel=1e-6)
    assert result["sd_difference"] == pytest.approx(0.99062408, rel=1e-6)
    assert (result["loa_low"], result["loa_high"]) == pytest.approx((-1.3394565, 2.5437899), abs=1e-7)
    assert (result["loa_status"], result["loa_reason"]) == (FITTED, "")


def test_agreement_separates_between_and_within_patient_correlation():
    # Planted: patients' true levels (patient-, therapist-rated) correlate rho_b = .8, session deviations
    # rho_w = .2, all variances 1, 8 sessions each, patients rate 0.5 higher. Then
    # - patient-level r of the means = (rho_b + rho_w / 8) / (1 + 1 / 8) = .825 / 1.125 = .7333;
    # - r_rm = rho_w = .2 (a pooled r of all sessions would be (.8 + .2) / 2 = .5);
    # - differences: between-patient variance 2 (1 - .8) = .4, within 2 (1 - .2) = 1.6, total 2;
    #   limits 0.5 -/+ 1.96 sqrt(2).
    rng = np.random.default_rng(2017)
    n_patients, sessions = 2000, 8
    levels = rng.multivariate_normal([4.0, 3.5], [[1, 0.8], [0.8, 1]], n_patients)
    noise = rng.multivariate_normal([0, 0], [[1, 0.2], [0.2, 1]], n_patients * sessions)
    ids = np.repeat(np.arange(n_patients), sessions)
    result = rater_agreement(ratings(ids, levels[ids, 0] + noise[:, 0], levels[ids, 1] + noise[:, 1]))
    assert result["patient_level_r"] == pytest.approx(0.825 / 1.125, abs=0.04)
    assert result["patient_level_ci_low"] < 0.825 / 1.125 < result["patient_level_ci_high"]
    assert result["rm_r"] == pytest.approx(0.2, abs=0.03)
    assert result["rm_ci_low"] < 0.2 < result["rm_ci_high"]
    assert result["rm_df"] == n_patients * sessions - n_patients - 1
    assert result["mean_difference"] == pytest.approx(0.5, abs=0.07)
    assert result["sd_between"] ** 2 == pytest.approx(0.4, abs=0.08)
    assert result["sd_within"] ** 2 == pytest.approx(1.6, abs=0.07)
    assert result["loa_high"] - result["loa_low"] == pytest.approx(2 * 1.96 * np.sqrt(2), abs=0.2)
    assert {result[f"{part}_status"] for part in ("patient_level", "rm", "loa")} == {FITTED}


def test_agreement_of_one_patient():
    result = rater_agreement(ratings("A", [30.0, 32, 35, 28], [28.0, 33, 31, 27]))
    assert result["n_pairs"] == 4 and result["n_patients"] == 1 and result["rm_n_patients"] == 1
    for part in ("patient_level", "rm", "loa"):
        assert result[f"{part}_status"] == NOT_ESTIMABLE
    assert np.isnan([result["patient_level_r"], result["rm_r"], result["rm_df"], result["loa_low"],
                     result["sd_between"]]).all()
    assert result["patient_level_reason"].startswith("fewer than 4 patients have sessions rated by both")
    assert result["rm_reason"].startswith("fewer than 3 patients have two or more sessions rated by both")
    assert result["loa_reason"] == ("fewer than 2 patients have sessions rated by both: the between-patient "
                                    "variance of the differences cannot be estimated")
    # differences 2 -1 4 1, mean 1.5; squares about it .25 6.25 6.25 .25 = 13, over 4 - 1 df
    assert result["mean_difference"] == pytest.approx(1.5)
    assert result["sd_within"] == pytest.approx(np.sqrt(13 / 3))


def test_agreement_with_one_pair_per_patient_by_hand():
    patient = pd.Series([30.0, 32, 35, 28, 36, 33])
    therapist = pd.Series([28.0, 33, 31, 27, 34, np.nan])  # f: incomplete pair, dropped
    result = rater_agreement(ratings(list("abcdef"), patient, therapist))
    # pairs a-e: patient 30 32 35 28 36, therapist 28 33 31 27 34; differences 2 -1 4 1 2
    assert result["n_pairs"] == 5 and result["n_patients"] == 5
    r = 34.4 / np.sqrt(44.8 * 37.2)  # cross-products and sums of squares about the means
    half = 1.959964 / np.sqrt(5 - 3)
    assert result["patient_level_r"] == pytest.approx(r)
    assert result["patient_level_ci_low"] == pytest.approx(np.tanh(np.arctanh(r) - half), abs=1e-6)
    assert result["patient_level_ci_high"] == pytest.approx(np.tanh(np.arctanh(r) + half), abs=1e-6)
    assert (result["rm_status"], result["rm_n_patients"]) == (NOT_ESTIMABLE, 0) and np.isnan(result["rm_r"])
    # One difference per patient: the SD of the differences, sqrt(13.2 / 4), is the total SD.
    assert result["mean_difference"] == pytest.approx(1.6)
    assert result["sd_difference"] == pytest.approx(np.sqrt(13.2 / 4))
    assert (result["loa_low"], result["loa_high"]) == pytest.approx(
        (1.6 - 1.96 * np.sqrt(3.3), 1.6 + 1.96 * np.sqrt(3.3)))
    assert np.isnan(result["sd_between"]) and np.isnan(result["sd_within"])
    assert result["loa_status"] == FITTED and result["loa_reason"].startswith("every patient has one session")


def test_agreement_between_patient_variance_at_its_boundary_by_hand():
    # Differences: A 0 and 2, B 1 and 1. Patient means 1 and 1: MS_between = 0; MS_within =
    # (1 + 1 + 0 + 0) / (4 - 2) = 1; s_b^2 = (0 - 1) / lambda < 0 -> 0; total variance 1.
    result = rater_agreement(ratings(list("AABB"), [3.0, 5, 4, 4], [3.0, 3, 3, 3]))
    assert result["mean_difference"] == 1 and result["sd_within"] == 1 and result["sd_between"] == 0
    assert (result["loa_low"], result["loa_high"]) == pytest.approx((1 - 1.96, 1 + 1.96))
    assert result["loa_status"] == BOUNDARY and "estimated at 0" in result["loa_reason"]


def test_agreement_of_identical_ratings():
    values = [3.0, 3.5, 4.0, 2.5, 3.0, 4.5, 4.0, 4.25, 5.0, 1.5, 2.0, 2.0]
    result = rater_agreement(ratings(np.repeat(list("ABCD"), 3), values, values))
    assert result["mean_difference"] == 0 and result["sd_difference"] == 0
    assert (result["loa_low"], result["loa_high"]) == (0, 0) and result["loa_status"] == BOUNDARY
    assert (result["patient_level_r"], result["patient_level_ci_low"], result["patient_level_ci_high"]) \
        == pytest.approx((1, 1, 1))
    assert (result["rm_r"], result["rm_ci_low"], result["rm_ci_high"]) == pytest.approx((1, 1, 1))
    assert result["rm_df"] == 12 - 4 - 1


def test_repeated_measures_r_needs_ratings_that_vary_within_patients():
    therapist = np.repeat([3.0, 4.0, 3.5, 4.5], 3)  # each patient's therapist gives one rating throughout
    result = rater_agreement(ratings(np.repeat(list("ABCD"), 3), np.arange(12.0), therapist))
    assert result["rm_status"] == NOT_ESTIMABLE and np.isnan(result["rm_r"])
    assert result["rm_reason"] == ("the therapist-rated totals do not vary within any patient: the "
                                   "within-patient correlation is undefined")
    assert result["patient_level_status"] == FITTED
