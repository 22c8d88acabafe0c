"""The RI-CLPM of alliance and symptoms (alliance.stats.riclpm; issue 17, not yet in the workflow):
lavaan's RI-CLPM of its `Demo.growth` data, refitted from the summary statistics (printed fit at
jflournoy/misc-r-projects@55b5770), semopy's derivatives against finite differences, the EM saturated
model, recovery of planted cross-lags from simulated panels with dropout, the casewise scores and the
therapist-cluster-robust sandwich, and refusals in words.

lavaan's FIML fits of Curran's data (jflournoy/misc-r-projects@a361512, `lavaan_ri-clpm/`: chi-square
3.213 on 1 df, 20.678 on 4, 23.264 on 8, and 68 printed estimates and SEs) were reproduced to their
printed digits when the module was written (docs/engineering-notes.md); that repository states no
licence, so its data are not in this one and the check is not repeated here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import semopy
from scipy import linalg, stats

from alliance.i18n import suppressing_counts
from alliance.stats import riclpm as R

DEMO_NAMES = ["x1", "x2", "x3", "y1", "y2", "y3"]
DEMO_MEANS = [0.5946695777, 1.673270148, 2.593162868, 0.007787797807, 0.02892610184, 0.0676427473]
DEMO_COV = [
    [2.500096339, 2.586559291, 3.088264033, 0.1137981046, 0.03266225883, 0.1730308994],
    [2.586559291, 4.518397853, 5.03776181, 0.006987466484, 0.2696261739, 0.2369435565],
    [3.088264033, 5.03776181, 7.424113707, -0.07912536147, 0.003272423613, 0.6450010037],
    [0.1137981046, 0.006987466484, -0.07912536147, 0.9747933529, 0.08011270135, -0.03010516149],
    [0.03266225883, 0.2696261739, 0.003272423613, 0.08011270135, 0.9013276116, 0.001252628901],
    [0.1730308994, 0.2369435565, 0.6450010037, -0.03010516149, 0.001252628901, 0.8739794379],
]
DEMO_GROWTH = {
    "a3": (1.044, 0.047), "b3": (-0.306, 0.073), "a2": (1.009, 0.014), "b2": (-0.108, 0.067),
    "c3": (0.026, 0.076), "d3": (0.024, 0.033), "c2": (0.110, 0.067), "d2": (0.010, 0.032),
    "ckxy": (-0.122, 0.515), "cwxy1": (0.248, 0.524), "uxy2": (0.248, 0.065), "uxy3": (0.400, 0.070),
    "mx1": (0.595, 0.079), "mx2": (1.673, 0.106), "mx3": (2.593, 0.136), "my1": (0.008, 0.049),
    "my2": (0.029, 0.047), "my3": (0.068, 0.047), "vkx": (-9.863, 14.987), "vky": (-0.033, 0.054),
    "vwx1": (12.359, 14.995), "ux2": (1.829, 0.129), "ux3": (1.758, 0.127), "vwy1": (1.005, 0.089),
    "uy2": (0.918, 0.076), "uy3": (0.895, 0.081),
}

PRINTED = 0.0005 + 1e-9  # a value printed to 3 decimals lies within this of the exact value
TRUE = {"x->x": 0.3, "y->y": 0.3, "x->y": -0.15, "y->x": -0.10}


def _assert_table(result: dict, expected: dict) -> None:
    """Every estimate and SE, rounded to 3 decimals as lavaan prints them, equals the printed value.

    (Our values are at least 2e-6 away from a rounding boundary for all 188 printed numbers.)
    """
    got = result["parameters"]
    assert set(got) == set(expected)
    bad = [
        (lab, est, se, got[lab]["estimate"], got[lab]["se"])
        for lab, (est, se) in expected.items()
        if f"{got[lab]['estimate']:.3f}" != f"{est:.3f}" or f"{got[lab]['se']:.3f}" != f"{se:.3f}"
    ]
    assert not bad, f"(label, printed est, printed se, ours est, ours se): {bad}"


# ------------------------------------------------------------------------------------------------
# Model syntax
# ------------------------------------------------------------------------------------------------


def _free_labels(desc: str) -> list[str]:
    labels = []
    for line in desc.strip().splitlines():
        lab = line.split()[2].split("*")[0]
        if not lab.isdigit():
            labels.append(lab)
    return labels


def test_description_structure():
    desc = R.description(3, constrained=False)
    lines = desc.strip().splitlines()
    assert "kx =~ 1*x1" in lines and "ky =~ 1*y3" in lines and "wx2 =~ 1*x2" in lines
    assert "x1 ~~ 0*x1" in lines and "y3 ~~ 0*y3" in lines
    assert "wx3 ~ a3*wx2" in lines and "wx3 ~ b3*wy2" in lines
    assert "wy3 ~ c3*wy2" in lines and "wy3 ~ d3*wx2" in lines
    assert "kx ~~ ckxy*ky" in lines and "wx1 ~~ cwxy1*wy1" in lines and "wx2 ~~ uxy2*wy2" in lines
    assert not any(line.startswith(("kx ~~ w", "ky ~~ w")) for line in lines)
    assert len(set(_free_labels(desc))) == 26  # lavaan's model A: 27 moments - 1 df
    con = R.description(5, constrained=True)
    labs = _free_labels(con)
    assert [labs.count(z) for z in "abcd"] == [4, 4, 4, 4]
    assert len(set(_free_labels(R.description(3, constrained=True, equal_innovations=True)))) == 19
    assert "kx" not in R.description(3, constrained=False, random_intercepts=False)
    with pytest.raises(ValueError):
        R.description(2, constrained=True)


def test_semopy_needs_cov_diag():
    """Without cov_diag semopy frees the covariances of the intercepts with wave-1 components."""
    desc = R.description(3, constrained=False)
    plain = {k for k, p in semopy.ModelMeans(desc).parameters.items() if p.active}
    diag = {k for k, p in semopy.ModelMeans(desc, cov_diag=True).parameters.items() if p.active}
    assert diag == set(_free_labels(desc))
    assert len(plain - diag) == 4


# ------------------------------------------------------------------------------------------------
# Numerical building blocks
# ------------------------------------------------------------------------------------------------


def _model_with_data(seed: int = 7, waves: int = 4):
    data = simulate_riclpm(300, waves, seed=seed, intermittent=0.1)
    setup = R._setup(waves, False, False, True)
    pats = R._patterns(data[setup.observed].to_numpy())
    setup.model.attach(pats)
    _, mean, var = R._pattern_moments(pats, 2 * waves)
    x0 = R._start_values(setup.labels, setup.observed, mean, var, 0.5, 0.0)
    return setup, pats, x0


def test_fiml_value_matches_casewise_normal_density():
    setup, _, x0 = _model_with_data()
    x = x0 + np.random.default_rng(0).normal(scale=0.05, size=x0.size)
    mu, sigma, _, _ = setup.model.moments(x)
    data = simulate_riclpm(40, 4, seed=8, intermittent=0.2)[setup.observed].to_numpy()
    expected = 0.0
    for row in data:
        o = np.flatnonzero(np.isfinite(row))
        expected += stats.multivariate_normal(mu[o], sigma[np.ix_(o, o)]).logpdf(row[o])
    value = R._fiml_value(R._batches(R._patterns(data), 8), mu, sigma)
    value += np.isfinite(data).sum() * math.log(2 * math.pi)
    assert value == pytest.approx(-2 * expected, rel=1e-10)


def test_gradient_matches_finite_differences():
    setup, _, x0 = _model_with_data()
    rng = np.random.default_rng(1)
    x = x0 + rng.normal(scale=0.05, size=x0.size)
    grad = setup.model.grad_fiml(x)
    num = np.empty_like(x)
    for i in range(x.size):
        h = 1e-6 * max(1.0, abs(x[i]))
        e = np.zeros_like(x)
        e[i] = h
        num[i] = (setup.model.obj_fiml(x + e) - setup.model.obj_fiml(x - e)) / (2 * h)
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-4)


def test_saturated_em_is_the_maximum():
    _setup, pats, _ = _model_with_data(seed=3)
    batches = R._batches(pats, 8)
    _, mean, var = R._pattern_moments(pats, 8)
    mu, sigma = R._saturated_em(batches, mean, var, sum(p.n for p in pats))
    best = R._fiml_value(batches, mu, sigma)
    rng = np.random.default_rng(2)
    for _ in range(20):
        e = rng.normal(scale=1e-3, size=(8, 8))
        assert R._fiml_value(batches, mu + rng.normal(scale=1e-3, size=8), sigma + e + e.T) > best
    # complete data: EM gives the sample mean and the ML covariance matrix
    full = simulate_riclpm(200, 4, seed=4, dropout=0.0).to_numpy()
    fp = R._patterns(full)
    _, m0, v0 = R._pattern_moments(fp, 8)
    mu, sigma = R._saturated_em(R._batches(fp, 8), m0, v0, 200)
    np.testing.assert_allclose(mu, full.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(sigma, np.cov(full, rowvar=False, ddof=0), atol=1e-10)


def test_small_variances_do_not_break_the_fit():
    """semopy's own FIML objective returns inf when -2 log L (minus constant) is negative."""
    data = simulate_riclpm(300, 4, seed=11)
    big = R.fit_riclpm(data, 4, constrained=True)
    small = R.fit_riclpm(data * 0.01, 4, constrained=True)
    assert small["chisq"] == pytest.approx(big["chisq"], rel=1e-6, abs=1e-6)
    for row_b, row_s in zip(big["lagged"], small["lagged"], strict=True):
        assert row_s["estimate"] == pytest.approx(row_b["estimate"], abs=1e-6)
        assert row_s["se"] == pytest.approx(row_b["se"], rel=1e-4)
    assert small["parameters"]["vkx"]["estimate"] == pytest.approx(
        1e-4 * big["parameters"]["vkx"]["estimate"], rel=1e-5
    )
    # the reason for overriding semopy's objective
    stock = semopy.ModelMeans(R.description(4, constrained=True), cov_diag=True)
    stock.load(data * 0.01)
    stock.prepare_fiml()
    active = [k for k, p in stock.parameters.items() if p.active]
    x = np.array([small["parameters"][k]["estimate"] for k in active])
    assert math.isinf(stock.obj_fiml(x))


# ------------------------------------------------------------------------------------------------
# Published reference
# ------------------------------------------------------------------------------------------------


def test_lavaan_demo_growth_from_summary_statistics():
    means = pd.Series(DEMO_MEANS, index=DEMO_NAMES)
    cov = pd.DataFrame(DEMO_COV, index=DEMO_NAMES, columns=DEMO_NAMES)
    res = R.fit_riclpm_summary(means, cov, 400, 3, constrained=False, information="expected")
    assert res["df"] == 1 and abs(res["chisq"] - 0.883) <= PRINTED
    _assert_table(res, DEMO_GROWTH)
    assert any("vkx" in w for w in res["warnings"]) and res["ri_correlation"] is None


# ------------------------------------------------------------------------------------------------
# Recovery of planted effects (alliance = x, symptoms = y; 20% drop out before the last wave)
# ------------------------------------------------------------------------------------------------


def test_simulated_data_have_dropout():
    data = simulate_riclpm(2000, 5, seed=0)
    left = data["x5"].isna() & data["y5"].isna()
    assert 0.17 < left.mean() < 0.23
    assert data["y1"].notna().all()
    # missing at random: those who leave had higher wave-1 symptoms
    assert data.loc[left, "y1"].mean() > data.loc[~left, "y1"].mean()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recovery_constrained(seed):
    data = simulate_riclpm(1500, 5, seed=seed)
    res = R.fit_riclpm(data, 5, constrained=True)
    assert res["n"] == 1500 and res["n_patterns"] > 1
    for row in res["lagged"]:
        assert abs(row["estimate"] - TRUE[row["effect"]]) <= 2 * row["se"], row
    assert abs(res["ri_correlation"] + 0.3) <= 2 * res["ri_correlation_se"]
    assert res["pvalue"] > 0.01  # the generating model fits


def test_recovery_per_wave():
    data = simulate_riclpm(1500, 5, seed=4)
    res = R.fit_riclpm(data, 5, constrained=False)
    assert len(res["lagged"]) == 16
    for effect, true in TRUE.items():
        rows = [r for r in res["lagged"] if r["effect"] == effect]
        assert sorted(r["wave"] for r in rows) == [2, 3, 4, 5]
        for r in rows:
            assert abs(r["estimate"] - true) <= 3.5 * r["se"], r  # 16 estimates: allow 3.5 SE each
        w = np.array([1 / r["se"] ** 2 for r in rows])
        pooled = np.sum(w * [r["estimate"] for r in rows]) / w.sum()
        assert abs(pooled - true) <= 2 / math.sqrt(w.sum()), (effect, pooled)


# ------------------------------------------------------------------------------------------------
# Data that cannot support the model
# ------------------------------------------------------------------------------------------------


def _no_numpy_words(message: str) -> None:
    for word in ("LinAlg", "singular matrix", "Traceback", "numpy", "scipy", "nan"):
        assert word not in message


def test_too_few_patients_with_three_sessions():
    data = simulate_riclpm(200, 4, seed=5, dropout=0.0)
    data.loc[12:, ["x3", "x4", "y3", "y4"]] = np.nan  # all but 12 patients leave after session 2
    with pytest.raises(R.NotEstimable) as err:
        R.fit_riclpm(data, 4, constrained=True)
    msg = str(err.value)
    assert msg.startswith("only 12 patients have 3 or more sessions with both alliance and symptoms")
    _no_numpy_words(msg)


def test_constant_session_variable():
    data = simulate_riclpm(200, 4, seed=6)
    data["y2"] = data["y2"].where(data["y2"].isna(), 3.0)
    with pytest.raises(R.NotEstimable, match="symptoms at session 2 has the same value for every patient"):
        R.fit_riclpm(data, 4, constrained=True)


def test_collinear_data_are_reported_in_words():
    data = simulate_riclpm(300, 4, seed=5)
    for t in range(1, 5):
        data[f"y{t}"] = data[f"x{t}"]
    with pytest.raises(R.NotEstimable) as err:
        R.fit_riclpm(data, 4, constrained=True)
    _no_numpy_words(str(err.value))



def _random_walk_panel(seed: int, n: int = 120, waves: int = 4) -> pd.DataFrame:
    """Stable levels plus within-patient deviations that follow a random walk (autoregression 1): the
    first wave's deviation and the stable level then enter every session alike, and their variances trade
    off along a ridge of the likelihood."""
    rng = np.random.default_rng(seed)
    level = rng.normal(size=(n, 2)) * [0.5, 1.0]
    deviation = rng.normal(size=(n, 2))
    columns = {}
    for t in range(1, waves + 1):
        if t > 1:
            deviation = deviation + rng.normal(size=(n, 2)) * 0.5
        columns[f"x{t}"] = 4 + level[:, 0] + deviation[:, 0]
        columns[f"y{t}"] = 10 + level[:, 1] + deviation[:, 1]
    return pd.DataFrame(columns)


def test_estimates_that_run_off_along_a_ridge_are_not_estimable_in_words(monkeypatch):
    """On this random-walk panel (seed 7) every start runs off: the model is refused at once, naming the
    wave (session 3 here) whose deviation the data cannot tell from the stable level. Without the bound
    the same starts end at points that are not minima, after minutes on clinic data ("did not converge"):
    the bound censors no solution."""
    data = _random_walk_panel(7)
    with pytest.raises(R.NotEstimable) as err:
        R.fit_riclpm(data, 4, constrained=True, first_session=3)
    assert err.value.status == "not_estimable"
    assert str(err.value) == ("the estimates run off without bound from all 6 starting points: the data do "
                              "not separate the patients' stable levels from their deviations at session 3 "
                              "(a flat likelihood)")
    with suppressing_counts(10):  # the starting points are no patients: the report does not suppress them
        assert err.value.message.render() == str(err.value)
    monkeypatch.setattr(R, "RUNOFF_BOUND", math.inf)
    with pytest.raises(R.NotEstimable) as unbounded:
        R.fit_riclpm(data, 4, constrained=True, first_session=3)
    assert unbounded.value.status == "not_converged"


def test_a_start_that_runs_off_leaves_the_others(monkeypatch):
    """A start abandoned for running off does not stop the search: with the bound below the solution's
    own largest variance (so that every start runs off) the fit is refused, with the bound as shipped the
    same data give the same estimates as without any bound."""
    data = simulate_riclpm(300, 4, seed=5)
    fit = R.fit_riclpm(data, 4, constrained=True)
    monkeypatch.setattr(R, "RUNOFF_BOUND", math.inf)
    unbounded = R.fit_riclpm(data, 4, constrained=True)
    assert fit["parameters"] == unbounded["parameters"] and fit["n_starts"] == unbounded["n_starts"]
    monkeypatch.setattr(R, "RUNOFF_BOUND", 0.05)
    with pytest.raises(R.NotEstimable, match="run off without bound from all 6 starting points"):
        R.fit_riclpm(data, 4, constrained=True)

def test_invalid_arguments():
    data = simulate_riclpm(100, 3, seed=1)
    with pytest.raises(KeyError):
        R.fit_riclpm(data, 4, constrained=True)
    with pytest.raises(ValueError):
        R.fit_riclpm(data, 3, constrained=True, information="sandwich")


def test_wide_from_long():
    long = pd.DataFrame({
        "pid": [1, 1, 1, 2, 2, 3],
        "session": [1, 2, 3, 1, 2, 4],
        "alliance": [4.0, 4.5, 5.0, 3.0, 3.5, 9.0],
        "phq": [20.0, 18.0, 15.0, 22.0, 21.0, 9.0],
    })
    wide = R.wide_from_long(long, patient="pid", session="session", x="alliance", y="phq", waves=3)
    assert list(wide.columns) == ["x1", "x2", "x3", "y1", "y2", "y3"]
    assert wide.loc[1, "x3"] == 5.0 and np.isnan(wide.loc[2, "y3"]) and wide.loc[3].isna().all()


# ------------------------------------------------------------------------------------------------
# Cluster-robust standard errors (patients nested in therapists)
# ------------------------------------------------------------------------------------------------


def _casewise_loglik(model, x: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each row's normal log-density of its observed values at ``x``, one scipy call per row."""
    mu, sigma, _, _ = model.moments(x)
    out = np.empty(len(values))
    for i, row in enumerate(values):
        o = np.flatnonzero(np.isfinite(row))
        out[i] = stats.multivariate_normal(mu[o], sigma[np.ix_(o, o)]).logpdf(row[o])
    return out


def _numeric_scores(model, x: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Central finite differences of every row's log-density: n x k."""
    out = np.empty((len(values), x.size))
    for j in range(x.size):
        h = 1e-6 * max(1.0, abs(x[j]))
        e = np.zeros_like(x)
        e[j] = h
        up, down = _casewise_loglik(model, x + e, values), _casewise_loglik(model, x - e, values)
        out[:, j] = (up - down) / (2 * h)
    return out


def test_casewise_scores_sum_to_the_gradient():
    """Away from the optimum (where both would be near 0) the scores add up to the module's gradient of
    -2 log L times -1/2: a wrong sign, a pattern mixed up or a term left out breaks the sum."""
    setup, pats, x0 = _model_with_data()
    x = x0 + np.random.default_rng(3).normal(scale=0.05, size=x0.size)
    data = simulate_riclpm(300, 4, seed=7, intermittent=0.1)[setup.observed].to_numpy()
    assert sum(p.n for p in pats) == len(data) and len(pats) > 10
    scores = setup.model.casewise_scores(x, data)
    assert scores.shape == (300, x.size)
    np.testing.assert_allclose(scores.sum(axis=0), -0.5 * setup.model.grad_fiml(x), rtol=1e-8,
                               atol=1e-8 * np.max(np.abs(setup.model.grad_fiml(x))))


def test_casewise_score_matches_finite_differences():
    """Each patient's score is the derivative of that patient's own log-density (scipy's), not only on
    average: the rows are not permuted, and patients with missing sessions get their pattern's terms."""
    setup, _, x0 = _model_with_data()
    x = x0 + np.random.default_rng(4).normal(scale=0.05, size=x0.size)
    data = simulate_riclpm(300, 4, seed=7, intermittent=0.1)[setup.observed].to_numpy()
    missing = np.isnan(data).sum(axis=1)
    rows = [int(np.argmax(missing == 0)), int(np.argmax(missing == 1)), int(np.argmax(missing >= 3))]
    assert missing[rows[1]] == 1 and missing[rows[2]] >= 3
    analytic = setup.model.casewise_scores(x, data)[rows]
    np.testing.assert_allclose(analytic, _numeric_scores(setup.model, x, data[rows]), rtol=1e-6, atol=1e-7)


def test_one_patient_per_cluster_is_the_huber_white_sandwich():
    """With one patient per cluster, the cluster-robust covariance without G / (G - 1) is the
    Huber-White sandwich H^-1 (sum_i s_i s_i') H^-1, here computed in the data's units from scipy's
    densities (finite differences) and the observed information: checks the scores at the estimate, the
    bread and the back-transformation from the standardised scale of every parameter's SE."""
    waves = 4
    data = simulate_riclpm(120, waves, seed=21, intermittent=0.1)
    data[[f"y{t}" for t in range(1, waves + 1)]] *= 5.0  # unlike units: b and d are rescaled too
    res = R.fit_riclpm(data, waves, constrained=True, clusters=np.arange(120))
    g = res["n_clusters"]
    assert g == 120
    setup = R._setup(waves, True, False, True)
    values = data[setup.observed].to_numpy()
    setup.model.attach(R._patterns(values))
    x = np.array([res["parameters"][lab]["estimate"] for lab in setup.labels])
    scores = _numeric_scores(setup.model, x, values)
    bread = np.linalg.inv(0.5 * R._fd_hessian(setup.model.grad_fiml, x))
    huber_white = bread @ scores.T @ scores @ bread
    robust = np.array([res["parameters"][lab]["se_cluster"] for lab in setup.labels])
    np.testing.assert_allclose(robust**2 * (g - 1) / g, np.diag(huber_white), rtol=1e-5)
    model_based = np.array([res["parameters"][lab]["se"] for lab in setup.labels])
    np.testing.assert_allclose(model_based**2, np.diag(bread), rtol=1e-5)


def _therapist_panel(seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """150 patients of 15 therapists (contiguous blocks of 10)."""
    return simulate_riclpm(150, 4, seed=seed, intermittent=0.1), np.repeat(np.arange(15), 10)


def test_cluster_robust_se_ignores_labels_order_and_empty_rows():
    """The same grouping of the same patients gives the same SEs whatever the labels (text or numbers),
    the order of the rows, and rows without any value (dropped with their labels, which therefore count
    as no cluster); permuting the labels alone, which regroups the patients, changes them."""
    data, therapist = _therapist_panel(seed=31)
    base = R.fit_riclpm(data, 4, constrained=True, clusters=therapist)
    order = np.random.default_rng(5).permutation(len(data))
    names = np.array([f"therapist {c}" for c in np.random.default_rng(6).permutation(15)])
    shuffled = data.iloc[order]
    labels = names[therapist[order]]
    empty = pd.DataFrame(np.nan, index=[-1, -2], columns=data.columns)
    padded = pd.concat([shuffled, empty])
    padded_labels = np.concatenate([labels, ["nobody else", None]]).astype(object)
    other = R.fit_riclpm(padded, 4, constrained=True, clusters=padded_labels)
    assert base["n_clusters"] == other["n_clusters"] == 15 and other["n_dropped"] == 2
    for lab, row in base["parameters"].items():
        for key in ("estimate", "se", "se_cluster", "ci_low", "ci_high"):
            assert other["parameters"][lab][key] == pytest.approx(row[key], rel=1e-6, abs=1e-9), (lab, key)
    for row_b, row_o in zip(base["lagged"], other["lagged"], strict=True):
        assert row_o["p_cluster"] == pytest.approx(row_b["p_cluster"], rel=1e-6)
    assert other["ri_correlation_se_cluster"] == pytest.approx(base["ri_correlation_se_cluster"], rel=1e-6)
    regrouped = R.fit_riclpm(data, 4, constrained=True, clusters=therapist[order])
    changed = [regrouped["parameters"][lab]["se_cluster"] / row["se_cluster"] - 1
               for lab, row in base["parameters"].items()]
    assert max(abs(c) for c in changed) > 0.01


def test_duplicated_patients_as_clusters():
    """k identical copies of each patient in one cluster: the estimates are those of the original data,
    the observed information is k times as large and each cluster's score k times the patient's, so the
    cluster-robust covariance is exactly the original data's with one patient per cluster (both with
    the same G = n), while the model-based SE shrinks by sqrt(k): cluster-robust over model-based SE is
    sqrt(k) times its value in the original data (the Huber-White over model-based ratio, near 1)."""
    k, n, waves = 3, 120, 4
    data = simulate_riclpm(n, waves, seed=41, intermittent=0.1)
    single = R.fit_riclpm(data, waves, constrained=True, clusters=np.arange(n))
    copies = data.loc[data.index.repeat(k)].reset_index(drop=True)
    dup = R.fit_riclpm(copies, waves, constrained=True, clusters=np.repeat(np.arange(n), k))
    assert dup["n"] == k * n and dup["n_clusters"] == single["n_clusters"] == n
    for lab, row in single["parameters"].items():
        got = dup["parameters"][lab]
        assert got["estimate"] == pytest.approx(row["estimate"], rel=1e-6, abs=1e-9), lab
        assert got["se"] == pytest.approx(row["se"] / math.sqrt(k), rel=1e-6), lab
        assert got["se_cluster"] == pytest.approx(row["se_cluster"], rel=1e-6), lab
    for row_s, row_d in zip(single["lagged"], dup["lagged"], strict=True):
        ratio = row_s["se_cluster"] / row_s["se"]
        assert 0.7 < ratio < 1.4, row_s  # Huber-White and model-based agree for correct models
        assert row_d["se_cluster"] / row_d["se"] == pytest.approx(math.sqrt(k) * ratio, rel=1e-6)
    assert dup["ri_correlation_se_cluster"] == pytest.approx(single["ri_correlation_se_cluster"], rel=1e-6)


def test_too_few_clusters_and_invalid_labels():
    data, therapist = _therapist_panel(seed=51)
    nine = therapist % 9
    with pytest.raises(R.NotEstimable) as err:
        R.fit_riclpm(data, 4, constrained=True, clusters=nine)
    assert str(err.value) == ("9 therapists (fewer than 10): too few clusters for cluster-robust standard "
                              "errors")
    assert err.value.status == "not_estimable" and err.value.message.values == {"n": 9, "minimum": 10}
    # a tenth therapist whose only patient has no value at all does not count
    empty = pd.DataFrame(np.nan, index=[999], columns=data.columns)
    with pytest.raises(R.NotEstimable) as err:
        R.fit_riclpm(pd.concat([data, empty]), 4, constrained=True, clusters=np.append(nine, 9))
    assert str(err.value).startswith("9 therapists (fewer than 10): ")
    with pytest.raises(ValueError, match="149 cluster labels for 150 rows"):
        R.fit_riclpm(data, 4, constrained=True, clusters=therapist[1:])
    with pytest.raises(ValueError, match="no cluster label"):
        R.fit_riclpm(data, 4, constrained=True, clusters=np.where(therapist == 3, np.nan, therapist))
    plain = R.fit_riclpm(data, 4, constrained=True)
    assert plain["n_clusters"] is None and "ri_correlation_se_cluster" not in plain
    assert not any("se_cluster" in row for row in [*plain["lagged"], *plain["parameters"].values()])


# ---- a stationary RI-CLPM with dropout (the generator of issue 17 will take this over) ----


def simulate_riclpm(
    n_patients: int,
    waves: int,
    *,
    ar_x: float = 0.3,
    ar_y: float = 0.3,
    x_to_y: float = -0.15,
    y_to_x: float = -0.10,
    ri_sd: tuple[float, float] = (1.0, 1.0),
    ri_correlation: float = -0.3,
    innovation_correlation: float = 0.2,
    dropout: float = 0.2,
    intermittent: float = 0.0,
    means: tuple[float, float] = (4.0, 20.0),
    seed: int | None = None,
) -> pd.DataFrame:
    """Simulate wide panel data from a stationary RI-CLPM with dropout.

    Parameters
    ----------
    n_patients, waves : int
        Number of patients and waves.
    ar_x, ar_y : float
        Within-person autoregressive effects (x->x, y->y).
    x_to_y, y_to_x : float
        Within-person cross-lagged effects (x_{t-1} -> y_t and y_{t-1} -> x_t).
    ri_sd : tuple of float
        Standard deviations of the random intercepts of x and y.
    ri_correlation : float
        Correlation of the random intercepts.
    innovation_correlation : float
        Correlation of the within-person innovations (unit variances).
    dropout : float
        Share of patients who leave before the last wave (at most 0.5).  The dropout wave is uniform
        over waves 2..T and the dropout probability rises with the wave-1 value of y (missing at
        random); nothing is observed from the dropout wave on.
    intermittent : float
        Probability that any single remaining value is missing (missing completely at random).
    means : tuple of float
        Grand means of x and y (equal over waves).
    seed : int, optional
        Seed for ``numpy.random.default_rng``.

    Returns
    -------
    pandas.DataFrame
        Columns ``x1..xT`` then ``y1..yT``.

    Notes
    -----
    The wave-1 within components are drawn from the stationary distribution of the VAR(1), found
    by solving the discrete Lyapunov equation, so that the constrained model with equal
    innovations is exactly true (Hamaker et al., 2015, eq. 3-5).
    """
    if not 0 <= dropout <= 0.5:
        raise ValueError("dropout must be between 0 and 0.5")
    rng = np.random.default_rng(seed)
    a = np.array([[ar_x, y_to_x], [x_to_y, ar_y]])
    q = np.array([[1.0, innovation_correlation], [innovation_correlation, 1.0]])
    stat = linalg.solve_discrete_lyapunov(a, q)
    w = np.empty((n_patients, waves, 2))
    w[:, 0] = rng.multivariate_normal(np.zeros(2), stat, size=n_patients)
    for t in range(1, waves):
        w[:, t] = w[:, t - 1] @ a.T + rng.multivariate_normal(np.zeros(2), q, size=n_patients)
    sx, sy = ri_sd
    ri_cov = np.array([[sx**2, ri_correlation * sx * sy], [ri_correlation * sx * sy, sy**2]])
    ri = rng.multivariate_normal(np.zeros(2), ri_cov, size=n_patients)
    scores = w + ri[:, None, :] + np.asarray(means)[None, None, :]
    obs = np.ones((n_patients, waves), dtype=bool)
    rank = stats.rankdata(scores[:, 0, 1]) / n_patients
    leaves = rng.random(n_patients) < 2.0 * dropout * rank
    drop_wave = rng.integers(1, waves, size=n_patients)  # 0-based first missing wave: 1..T-1
    for i in np.flatnonzero(leaves):
        obs[i, drop_wave[i]:] = False
    out = {}
    for j, v in enumerate(("x", "y")):
        keep = obs & (rng.random((n_patients, waves)) >= intermittent)
        keep[:, 0] |= obs[:, 0] & (j == 1)  # y1 always observed (dropout depends on it)
        vals = np.where(keep, scores[:, :, j], np.nan)
        for t in range(waves):
            out[f"{v}{t + 1}"] = vals[:, t]
    return pd.DataFrame(out)


def test_the_random_intercept_correlations_interval_stays_inside_minus_one_to_one():
    """Fisher's z: r = .95 with SE .10 and 20 clusters would give r +- t SE = [.74, 1.16] on the raw
    scale; on z it is tanh(atanh(.95) +- t * .10 / (1 - .95^2)) by hand."""
    t = stats.t.ppf(0.975, 19)
    ci = R.correlation_interval(0.95, 0.10, 20)
    half = t * 0.10 / (1 - 0.95**2)
    assert ci["ci_low"] == pytest.approx(np.tanh(np.arctanh(0.95) - half))
    assert ci["ci_high"] == pytest.approx(np.tanh(np.arctanh(0.95) + half)) and ci["ci_high"] < 1
    near_zero = R.correlation_interval(0.0, 0.01, 20)  # the raw interval where r is near 0
    assert near_zero["ci_high"] == pytest.approx(t * 0.01, rel=1e-3) and near_zero["se_cluster"] == 0.01
    assert np.isnan(R.correlation_interval(1.0, 0.1, 20)["ci_low"])
