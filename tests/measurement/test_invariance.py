"""The multigroup CFA of measurement invariance (alliance.measurement.invariance; issue 17, not yet in the
workflow): lavaan's published Holzinger-Swineford fits, MLR against lavaan and semTools printouts and an
independent numerical sandwich, degenerate data in words, and planted non-invariance on simulated items."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from alliance.measurement import invariance as inv

HS_FACTORS = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
P, GW = "Pasteur", "Grant-White"
TUTORIAL = ("yrosseel/lavaan.org.old, tutorial.src/groups.tex, commit "
            "2d9c6e12e202dcd33392f5b453aed9f3cd3cab39 (lavaan 0.5-16 summary() and semTools "
            "measurementInvariance() printouts)")


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # multi-threaded OpenBLAS on small matrices is ~40x slower on a loaded 2-core machine
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    """semopy.examples.holzinger39.get_data() (= lavaan's HolzingerSwineford1939), read without importing
    semopy (4 s): the same CSV file and the same read_csv call."""
    root = Path(importlib.util.find_spec("semopy").submodule_search_locations[0])
    return pd.read_csv(root / "examples" / "holzinger_swineford39_data.csv", index_col=0, sep=",")


@pytest.fixture(scope="module")
def hs_ml(hs) -> dict:
    return {lev: inv.fit_multigroup(hs, "school", HS_FACTORS, lev) for lev in inv.LEVELS}


@pytest.fixture(scope="module")
def hs_mlr(hs) -> dict:
    return {lev: inv.fit_multigroup(hs, "school", HS_FACTORS, lev, "MLR") for lev in inv.LEVELS}


def _pick(tab: pd.DataFrame, group: str, op: str, lhs: str, rhs: str = "") -> pd.Series:
    rows = tab[(tab.group == group) & (tab.op == op) & (tab.lhs == lhs) & (tab.rhs == rhs)]
    assert len(rows) == 1, (group, op, lhs, rhs)
    return rows.iloc[0]


def _printed(value: float, printed: float, decimals: int = 3) -> bool:
    return abs(value - printed) <= 0.5 * 10**-decimals + 1e-9


# ----------------------------------------------------------------------------- published ML results
@pytest.mark.parametrize(("level", "chisq", "df", "cfi", "rmsea", "bic"), [
    ("configural", 115.851, 48, 0.923, 0.097, 7706.822),
    ("metric", 124.044, 54, 0.921, 0.093, 7680.771),
    ("scalar", 164.103, 60, 0.882, 0.107, 7686.588),
])
def test_hs_fit_matches_lavaan_tutorial(hs_ml, level, chisq, df, cfi, rmsea, bic):
    """Chi-square (to 1e-3), df, CFI, RMSEA, BIC as printed by semTools::measurementInvariance().

    Source: TUTORIAL (Model 1/2/3 blocks). lavaan uses N_g (not N_g - 1) in T = sum_g N_g F_g: with
    N_g - 1 the configural statistic would be 115.851 * (299/301) = 115.08.
    """
    fit = hs_ml[level]
    assert abs(fit["chisq"] - chisq) < 1e-3
    assert fit["df"] == df
    assert round(fit["cfi"], 3) == cfi
    assert round(fit["rmsea"], 3) == rmsea
    assert abs(fit["bic"] - bic) < 1e-3
    assert fit["converged"]


def test_hs_group_chisq_and_iterations(hs_ml):
    """Per-group chi-square ("Chi-square for each group") from TUTORIAL: 64.309/51.542, 68.825/55.219."""
    assert _printed(hs_ml["configural"]["chisq_groups"][P], 64.309)
    assert _printed(hs_ml["configural"]["chisq_groups"][GW], 51.542)
    assert _printed(hs_ml["metric"]["chisq_groups"][P], 68.825)
    assert _printed(hs_ml["metric"]["chisq_groups"][GW], 55.219)
    assert all(1 < f["iterations"] < 100 for f in hs_ml.values())


# (group, op, lhs, rhs, estimate, SE) printed in TUTORIAL, configural model (summary(fit))
CONFIGURAL = [
    (P, "=~", "visual", "x2", 0.394, 0.122), (P, "=~", "visual", "x3", 0.570, 0.140),
    (P, "=~", "textual", "x5", 1.183, 0.102), (P, "=~", "textual", "x6", 0.875, 0.077),
    (P, "=~", "speed", "x8", 1.125, 0.277), (P, "=~", "speed", "x9", 0.922, 0.225),
    (P, "~~", "visual", "textual", 0.479, 0.106), (P, "~~", "visual", "speed", 0.185, 0.077),
    (P, "~~", "textual", "speed", 0.182, 0.069),
    (P, "~1", "x1", "", 4.941, 0.095), (P, "~1", "x5", "", 3.995, 0.105), (P, "~1", "x9", "", 5.418, 0.079),
    (P, "~~", "x1", "x1", 0.298, 0.232), (P, "~~", "x2", "x2", 1.334, 0.158),
    (P, "~~", "x8", "x8", 0.510, 0.116),
    (P, "~~", "visual", "visual", 1.097, 0.276), (P, "~~", "speed", "speed", 0.350, 0.126),
    (GW, "=~", "visual", "x2", 0.736, 0.155), (GW, "=~", "visual", "x3", 0.925, 0.166),
    (GW, "=~", "textual", "x5", 0.990, 0.087), (GW, "=~", "textual", "x6", 0.963, 0.085),
    (GW, "=~", "speed", "x8", 1.226, 0.187), (GW, "=~", "speed", "x9", 1.058, 0.165),
    (GW, "~~", "visual", "textual", 0.408, 0.098), (GW, "~~", "textual", "speed", 0.222, 0.073),
    (GW, "~1", "x2", "", 6.200, 0.092), (GW, "~1", "x7", "", 3.921, 0.086),
    (GW, "~~", "x3", "x3", 0.557, 0.103), (GW, "~~", "x6", "x6", 0.406, 0.069),
    (GW, "~~", "visual", "visual", 0.604, 0.160), (GW, "~~", "textual", "textual", 0.942, 0.152),
]
# metric model (group.equal = "loadings"), same source
METRIC = [
    (P, "=~", "visual", "x2", 0.599, 0.100), (P, "=~", "visual", "x3", 0.784, 0.108),
    (P, "=~", "textual", "x5", 1.083, 0.067), (P, "=~", "textual", "x6", 0.912, 0.058),
    (P, "=~", "speed", "x8", 1.201, 0.155), (P, "=~", "speed", "x9", 1.038, 0.136),
    (GW, "=~", "speed", "x9", 1.038, 0.136),
    (P, "~~", "visual", "textual", 0.416, 0.097), (P, "~~", "visual", "speed", 0.169, 0.064),
    (P, "~1", "x1", "", 4.941, 0.093), (P, "~1", "x5", "", 3.995, 0.101),
    (P, "~~", "x1", "x1", 0.551, 0.137), (P, "~~", "visual", "visual", 0.805, 0.171),
    (P, "~~", "speed", "speed", 0.305, 0.078),
    (GW, "~~", "visual", "speed", 0.314, 0.079), (GW, "~1", "x5", "", 4.712, 0.100),
    (GW, "~~", "x6", "x6", 0.437, 0.067), (GW, "~~", "speed", "speed", 0.475, 0.109),
]


@pytest.mark.parametrize(("level", "table"), [("configural", CONFIGURAL), ("metric", METRIC)])
def test_hs_estimates_and_se_match_tutorial(hs_ml, level, table):
    """Estimates and expected-information SEs to the 3 printed decimals (source: TUTORIAL)."""
    tab = hs_ml[level]["estimates"]
    for group, op, lhs, rhs, est, se in table:
        row = _pick(tab, group, op, lhs, rhs)
        assert _printed(row.est, est), (group, op, lhs, rhs, row.est)
        assert _printed(row.se, se), (group, op, lhs, rhs, row.se)
    shared = tab[(tab.op == "=~") & tab.free]
    assert shared.equal.all() == (level == "metric")


def test_hs_scalar_estimates_match_lavaan_0_6_17(hs_ml):
    """Scalar model (loadings + intercepts equal, latent means free in Grant-White).

    Source: m-clark/m-clark.github.io, posts/2019-08-05-comparing-latent-variables/index.llms.md,
    commit 1b52a17b60dbac43d09a49ba57aeaeca3bee28da (https://m-clark.github.io/posts/
    2019-08-05-comparing-latent-variables/), model hs_model_4d, summary(nd = 2) with lavaan 0.6.17.  That
    parametrisation (marker intercepts 0, latent intercepts free in both groups) is equivalent to
    group.equal = c("loadings", "intercepts"): loadings, variances and z-values of the loadings are
    identical; its latent intercepts in Pasteur equal our marker intercepts (5.00, z 55.76 ...), and the
    visual mean difference is 0.148 (SE 0.122, 3-decimal table) = minus our Grant-White latent mean.
    """
    tab = hs_ml["scalar"]["estimates"]
    for lhs, rhs, est, z in [("visual", "x2", 0.58, 5.71), ("visual", "x3", 0.80, 7.15),
                             ("textual", "x5", 1.12, 16.97), ("textual", "x6", 0.93, 16.61),
                             ("speed", "x8", 1.13, 7.79), ("speed", "x9", 1.01, 7.67)]:
        for group in (P, GW):
            row = _pick(tab, group, "=~", lhs, rhs)
            assert _printed(row.est, est, 2) and _printed(row.z, z, 2), (lhs, rhs)
    for item, est, z in [("x1", 5.00, 55.76), ("x4", 2.78, 31.95), ("x7", 4.24, 57.97)]:
        row = _pick(tab, GW, "~1", item)
        assert _printed(row.est, est, 2) and _printed(row.z, z, 2)
    for group, item, est in [(P, "x1", 0.56), (P, "x7", 0.89), (GW, "x3", 0.64), (GW, "x9", 0.52)]:
        assert _printed(_pick(tab, group, "~~", item, item).est, est, 2)
    for group, fac, est in [(P, "visual", 0.80), (P, "speed", 0.32), (GW, "visual", 0.71),
                            (GW, "speed", 0.51)]:
        assert _printed(_pick(tab, group, "~~", fac, fac).est, est, 2)
    mean = _pick(tab, GW, "~1", "visual")
    assert _printed(mean.est, -0.148) and _printed(mean.se, 0.122)
    assert _pick(tab, P, "~1", "visual").est == 0 and not _pick(tab, P, "~1", "visual").free


def test_hs_invariance_levels_match_semtools(hs, hs_ml):
    """Delta chi-square 8.192 (df 6, p .224, delta CFI .002), 40.059 (p .000, .038) and configural vs
    scalar 48.251 (df 12, delta CFI .041): TUTORIAL."""
    both = inv.compare(hs_ml["configural"], hs_ml["scalar"])
    assert _printed(both["delta_chisq"], 48.251) and both["delta_df"] == 12
    assert _printed(-both["delta_cfi"], 0.041)
    res = inv.invariance_levels(hs, "school", HS_FACTORS)
    metric, scalar = res["comparisons"]
    assert _printed(metric["delta_chisq"], 8.192) and metric["delta_df"] == 6
    assert _printed(metric["pvalue"], 0.224) and _printed(-metric["delta_cfi"], 0.002)
    assert _printed(scalar["delta_chisq"], 40.059) and _printed(scalar["pvalue"], 0.000)
    assert _printed(-scalar["delta_cfi"], 0.038)
    assert metric["retained"] and not scalar["retained"]
    assert res["highest_level"] == "metric"
    assert list(res["table"].level) == list(inv.LEVELS)


# ----------------------------------------------------------------------------- MLR
def test_mlr_single_group_matches_lavaan(hs):
    """One group: lavaan 0.6-20 cfa(HS.model, estimator = "MLR") (Yuan-Bentler, Mplus variant).

    Source: rempsyc/lavaanExtra, reference/cfa_fit_plot.md, commit 0ec0c54af2d57572664a72000e6f319f4068d86c
    (cfa_fit_plot() default estimator = "MLR"; the same numbers with lavaan 0.6-12 in README.md, commit
    06b7c717a992f0dd701ee7b5037057b9bf957e6d).  lavaan fitted it without mean structure; with free
    intercepts the ML estimate satisfies tr(Sigma^-1 S) = p, so the scaling factor is the same (AIC/BIC
    differ: our model counts the 9 intercepts).
    """
    fit = inv.fit_multigroup(hs.assign(all="all"), "all", HS_FACTORS, "configural", "MLR")
    expected = {"chisq": 85.306, "chisq_scaled": 87.132, "scaling_factor": 0.979,
                "baseline_chisq": 918.852, "baseline_chisq_scaled": 880.082, "baseline_scaling_factor": 1.044,
                "cfi": 0.931, "cfi_scaled": 0.925, "tli": 0.896, "tli_scaled": 0.888, "cfi_robust": 0.930,
                "tli_robust": 0.895, "rmsea": 0.092, "rmsea_scaled": 0.093, "rmsea_robust": 0.092,
                "loglik": -3737.745, "loglik_h1": -3695.092}
    for key, value in expected.items():
        assert _printed(fit[key], value), (key, fit[key])
    tab = fit["estimates"]
    for op, lhs, rhs, se in [("=~", "visual", "x2", 0.132), ("=~", "visual", "x3", 0.141),
                             ("=~", "textual", "x5", 0.066), ("=~", "textual", "x6", 0.061),
                             ("=~", "speed", "x8", 0.130), ("=~", "speed", "x9", 0.266),
                             ("~~", "visual", "textual", 0.099), ("~~", "visual", "speed", 0.060),
                             ("~~", "textual", "speed", 0.056), ("~~", "x1", "x1", 0.156),
                             ("~~", "x8", "x8", 0.120), ("~~", "visual", "visual", 0.180),
                             ("~~", "speed", "speed", 0.107)]:
        assert _printed(_pick(tab, "all", op, lhs, rhs).se, se), (lhs, rhs)


def test_mlr_scaled_difference_matches_published_semtools(hs_mlr):
    """SB2001 configural vs metric = 6.567: measurementInvariance(..., estimator = "MLR", group = "school").

    Source: https://stats.stackexchange.com/questions/78659 (question text, 2013), "delta.chisq.scaled =
    6.567"; the same post's "manual subtraction of scaled values = 4.25" is 125.997 - 121.741 = 4.257.
    """
    comp = inv.compare(hs_mlr["configural"], hs_mlr["metric"])
    assert _printed(comp["delta_chisq"], 6.567)
    assert 4.25 <= hs_mlr["metric"]["chisq_scaled"] - hs_mlr["configural"]["chisq_scaled"] < 4.26


def test_sb2001_formula_by_hand(hs_mlr):
    """cd = (df0 c0 - df1 c1) / (df0 - df1), T = (T0 - T1) / cd (Satorra & Bentler 2001), 0 = restricted."""
    for less, more in [("configural", "metric"), ("metric", "scalar"), ("configural", "scalar")]:
        m1, m0 = hs_mlr[less], hs_mlr[more]
        cd = (m0["df"] * m0["scaling_factor"] - m1["df"] * m1["scaling_factor"]) / (m0["df"] - m1["df"])
        comp = inv.compare(m1, m0)
        assert comp["scaling_factor_diff"] == pytest.approx(cd, rel=1e-12)
        assert comp["delta_chisq"] == pytest.approx((m0["chisq"] - m1["chisq"]) / cd, rel=1e-12)
        assert comp["delta_chisq_unscaled"] == pytest.approx(m0["chisq"] - m1["chisq"])
        assert comp["delta_cfi"] == pytest.approx(m0["cfi_robust"] - m1["cfi_robust"])
    t0, t1, c0, c1, df0, df1 = 150.0, 100.0, 1.30, 1.20, 60, 48
    fake = {"estimator": "MLR", "n": {"a": 100}, "items": ["x"], "cfi_robust": 0.95, "rmsea_robust": 0.05}
    m1 = fake | {"level": "configural", "chisq": t1, "df": df1, "scaling_factor": c1}
    m0 = fake | {"level": "metric", "chisq": t0, "df": df0, "scaling_factor": c0}
    assert inv.compare(m1, m0)["delta_chisq"] == pytest.approx(50.0 / ((60 * 1.30 - 48 * 1.20) / 12))


def _numerical_sandwich(fit: dict, data: pd.DataFrame, group: str) -> np.ndarray:
    """Independent sandwich SEs: casewise normal log-likelihood rebuilt from the public estimates table,
    numerical scores (meat) and numerical Hessian (bread) by central differences."""
    tab, items, facs = fit["estimates"], fit["items"], list(fit["factors"])
    p, m = len(items), len(facs)
    free = tab[tab.free].drop_duplicates("param").sort_values("param")
    theta0 = free.est.to_numpy()
    param, fixed = np.maximum(tab.param.to_numpy(), 0), tab.est.to_numpy()
    groups = []
    for g in fit["groups"]:
        sel = tab.group.to_numpy() == g
        pos = {}  # (matrix, row, col) -> table rows
        for r in np.flatnonzero(sel):
            op, lhs, rhs = tab.op.iat[r], tab.lhs.iat[r], tab.rhs.iat[r]
            if op == "=~":
                key = ("lam", items.index(rhs), facs.index(lhs))
            elif op == "~1":
                key = ("nu", items.index(lhs), 0) if lhs in items else ("al", facs.index(lhs), 0)
            elif lhs in items:
                key = ("th", items.index(lhs), items.index(lhs))
            else:
                key = ("phi", facs.index(lhs), facs.index(rhs))
            pos.setdefault(key[0], []).append((r, key[1], key[2]))
        groups.append(({k: np.array(v) for k, v in pos.items()},
                       data.loc[data[group] == g, items].to_numpy(float)))

    def casewise(theta: np.ndarray) -> np.ndarray:
        est = np.where(tab.free.to_numpy(), theta[param], fixed)
        out = []
        for pos, x in groups:
            lam, nu, al = np.zeros((p, m)), np.zeros(p), np.zeros(m)
            th, phi = np.zeros((p, p)), np.zeros((m, m))
            r, i, j = pos["lam"].T
            lam[i, j] = est[r]
            r, i, _ = pos["nu"].T
            nu[i] = est[r]
            r, i, _ = pos["al"].T
            al[i] = est[r]
            r, i, j = pos["th"].T
            th[i, j] = est[r]
            r, i, j = pos["phi"].T
            phi[i, j] = phi[j, i] = est[r]
            chol = np.linalg.cholesky(lam @ phi @ lam.T + th)
            z = np.linalg.solve(chol, (x - nu - lam @ al).T)
            out.append(-0.5 * (p * np.log(2 * np.pi) + 2 * np.log(np.diag(chol)).sum() + (z**2).sum(0)))
        return np.concatenate(out)

    q, h, hh = theta0.size, 1e-5, 1e-4
    eye = np.eye(q)
    scores = np.column_stack([(casewise(theta0 + h * eye[j]) - casewise(theta0 - h * eye[j])) / (2 * h)
                              for j in range(q)])
    hess = np.zeros((q, q))
    f0 = casewise(theta0).sum()
    for i in range(q):
        plus, minus = casewise(theta0 + hh * eye[i]).sum(), casewise(theta0 - hh * eye[i]).sum()
        hess[i, i] = (plus - 2 * f0 + minus) / hh**2
        for j in range(i):
            a, b = hh * (eye[i] + eye[j]), hh * (eye[i] - eye[j])
            four = (casewise(theta0 + a).sum() - casewise(theta0 + b).sum()
                    - casewise(theta0 - b).sum() + casewise(theta0 - a).sum())
            hess[i, j] = hess[j, i] = four / (4 * hh**2)
    bread = np.linalg.inv(-hess)
    return np.sqrt(np.diag(bread @ scores.T @ scores @ bread))


def test_robust_se_equal_independent_numerical_sandwich(hs):
    """MLR SEs (analytic observed information and scores) = numerical sandwich; scalar model with two
    factors (q = 30) exercises the mean-structure, latent-mean and loading second-derivative terms."""
    factors = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"]}
    fit = inv.fit_multigroup(hs, "school", factors, "scalar", "MLR")
    se_num = _numerical_sandwich(fit, hs, "school")
    free = fit["estimates"][fit["estimates"].free].drop_duplicates("param").sort_values("param")
    np.testing.assert_allclose(free.se.to_numpy(), se_num, rtol=2e-4)


# ----------------------------------------------------------------------------- simulated data
ITEMS = [f"wai{i:02d}" for i in range(1, 13)]
WAI = {"task": ITEMS[0:4], "bond": ITEMS[4:8], "goal": ITEMS[8:12]}


def _simulate(seed: int, n: int = 150, loading_shift: dict | None = None, intercept_shift: float = 0.0,
              likert: bool = True) -> pd.DataFrame:
    """4 groups x n, 3 factors x 4 items (loadings .8/.7/.6/.7, unit item variances), items cut to 1-5;
    the last group gets the planted non-invariance."""
    rng = np.random.default_rng(seed)
    lam = np.kron(np.eye(3), np.array([[0.8], [0.7], [0.6], [0.7]]))
    phi = np.array([[1, 0.5, 0.4], [0.5, 1, 0.45], [0.4, 0.45, 1]])
    theta = 1 - (lam**2).sum(axis=1)
    frames = []
    for g in range(4):
        lg, nu = lam.copy(), np.zeros(12)
        if g == 3:
            for (i, k), shift in (loading_shift or {}).items():
                lg[i, k] += shift
            nu[5] += intercept_shift
        eta = rng.multivariate_normal(np.full(3, 0.1 * g), phi, size=n)
        x = nu + eta @ lg.T + rng.normal(size=(n, 12)) * np.sqrt(theta)
        x = np.digitize(x, [-1.5, -0.5, 0.5, 1.5]) + 1.0 if likert else x + 3.0
        frames.append(pd.DataFrame(x, columns=ITEMS).assign(site=f"site{g}"))
    return pd.concat(frames, ignore_index=True)


def test_mlr_scaling_factor_near_one_under_normality():
    for seed in (1, 2):
        fit = inv.fit_multigroup(_simulate(seed, n=300, likert=False), "site", WAI, "metric", "MLR")
        assert abs(fit["scaling_factor"] - 1) < 0.03
        assert abs(fit["baseline_scaling_factor"] - 1) < 0.03
        assert abs(fit["cfi_robust"] - fit["cfi"]) < 0.01


def test_null_invariance_retained_in_most_seeds():
    highest = [inv.invariance_levels(_simulate(s), "site", WAI)["highest_level"] for s in range(5)]
    assert highest.count("scalar") >= 4, highest


def test_planted_intercept_shift_rejects_scalar_in_most_seeds():
    """Intercept of one item shifted by 0.5 SD in one of 4 groups: metric holds, scalar rejected."""
    highest = [inv.invariance_levels(_simulate(s, intercept_shift=0.5), "site", WAI, "MLR")["highest_level"]
               for s in range(5)]
    assert highest.count("metric") >= 4, highest


def test_planted_loading_shift_rejects_metric():
    """One loading per factor raised by 0.4 in one of 4 groups: metric rejected.  (A single shifted
    loading is NOT reliably flagged by Chen's rule: see docs/engineering-notes.md.)"""
    shift = {(1, 0): 0.4, (5, 1): 0.4, (9, 2): 0.4}
    for s in range(3):
        data = _simulate(s, loading_shift=shift, likert=False)
        comp = inv.compare(*(inv.fit_multigroup(data, "site", WAI, lev) for lev in ("configural", "metric")))
        assert not comp["retained"] and comp["pvalue"] < 0.001


def test_population_moments_give_exact_noncentrality():
    """Data with sample moments equal to population moments: configural chi-square 0; only the level
    that violates the planted difference picks up misfit."""
    rng = np.random.default_rng(3)
    lam = np.kron(np.eye(3), np.array([[0.8], [0.7], [0.6], [0.7]]))
    phi = np.array([[1, 0.5, 0.4], [0.5, 1, 0.45], [0.4, 0.45, 1]])
    frames = []
    for g in range(3):
        nu = np.zeros(12)
        nu[5] = 0.5 if g == 2 else 0.0
        sigma = lam @ phi @ lam.T + np.diag(1 - (lam**2).sum(axis=1))
        frames.append(pd.DataFrame(_exact(nu + lam @ np.full(3, 0.2 * g), sigma, 200, rng), columns=ITEMS)
                      .assign(site=g))
    fits = {lev: inv.fit_multigroup(pd.concat(frames), "site", WAI, lev) for lev in inv.LEVELS}
    assert fits["configural"]["chisq"] < 1e-6 and fits["metric"]["chisq"] < 1e-6
    assert fits["scalar"]["chisq"] > 10


# ----------------------------------------------------------------------------- degenerate data
def _exact(mu: np.ndarray, sigma: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n rows whose mean and biased covariance are exactly mu and sigma."""
    z = rng.normal(size=(n, len(mu)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False, bias=True))).T
    return mu + z @ np.linalg.cholesky(sigma).T


def test_constant_item_in_one_group(hs):
    data = hs.copy()
    data.loc[data.school == GW, "x7"] = 4.0
    with pytest.raises(inv.NotEstimable, match=r"^item x7 has no variance in group Grant-White$"):
        inv.fit_multigroup(data, "school", HS_FACTORS, "configural")


def test_tiny_group(hs):
    tiny = hs.sample(12, random_state=1).assign(school="Tiny")
    with pytest.raises(inv.NotEstimable, match="group Tiny has only 12 complete cases"):
        inv.fit_multigroup(pd.concat([hs, tiny]), "school", HS_FACTORS, "metric")
    small = hs.sample(40, random_state=2).assign(school="Small")
    fit = inv.fit_multigroup(pd.concat([hs, small]), "school", HS_FACTORS, "metric", min_group_size=20)
    assert fit["n"]["Small"] == 40 and fit["df"] == 3 * 54 - (6 + 3 * 24)


def test_singular_sample_covariance(hs):
    data = hs.assign(x10=hs.x1 + hs.x2)
    factors = HS_FACTORS | {"visual": ["x1", "x2", "x3", "x10"]}
    with pytest.raises(inv.NotEstimable, match=r"singular: items x1, x2, x10 are linearly dependent"):
        inv.fit_multigroup(data, "school", factors, "configural")


def test_heywood_case():
    rng = np.random.default_rng(1)
    lam = np.array([[1, 0], [0.8, 0], [0.7, 0], [0, 1], [0, 0.9], [0, 0.8]])
    sigma = lam @ np.array([[1, 0.3], [0.3, 1]]) @ lam.T + np.diag([-0.15, 0.5, 0.6, 0.5, 0.5, 0.5])
    items = [f"y{i}" for i in range(1, 7)]
    data = pd.concat([pd.DataFrame(_exact(np.zeros(6), sigma, 100, rng), columns=items).assign(g=k)
                      for k in "AB"])
    with pytest.raises(inv.NotEstimable, match=r"item y1 has a negative residual variance .* group A"):
        inv.fit_multigroup(data, "g", {"f1": items[:3], "f2": items[3:]}, "configural")


def test_not_identified_and_not_converged(hs):
    rng = np.random.default_rng(2)
    lam = np.array([[1, 0], [0.8, 0], [0.7, 0], [0, 1], [0, 0.9]])
    sigma = lam @ lam.T + 0.5 * np.eye(5)  # two-item factor uncorrelated with the other factor
    items = [f"y{i}" for i in range(1, 6)]
    data = pd.concat([pd.DataFrame(_exact(np.zeros(5), sigma, 100, rng), columns=items).assign(g=k)
                      for k in "AB"])
    with pytest.raises(inv.NotEstimable, match="not identified"):
        inv.fit_multigroup(data, "g", {"f1": items[:3], "f2": items[3:]}, "metric")
    with pytest.raises(inv.NotEstimable, match="did not converge in 3 iterations"):
        inv.fit_multigroup(hs, "school", HS_FACTORS, "scalar", max_iter=3)


def test_specification_errors_are_value_errors(hs):
    with pytest.raises(ValueError, match="level"):
        inv.fit_multigroup(hs, "school", HS_FACTORS, "strict")
    with pytest.raises(ValueError, match="exactly one factor"):
        inv.fit_multigroup(hs, "school", HS_FACTORS | {"speed": ["x7", "x8", "x1"]}, "metric")
    with pytest.raises(ValueError, match="more degrees of freedom"):
        inv.compare(inv.fit_multigroup(hs, "school", HS_FACTORS, "metric"),
                    inv.fit_multigroup(hs, "school", HS_FACTORS, "configural"))


def test_chen_rule_boundaries():
    base = {"estimator": "ML", "n": {"a": 100}, "items": ["x"], "chisq": 100.0, "df": 50,
            "level": "configural", "cfi": 0.950, "rmsea": 0.050}
    more = base | {"chisq": 110.0, "df": 56, "level": "metric"}
    assert inv.compare(base, more | {"cfi": 0.940, "rmsea": 0.065})["retained"]  # both exactly at bound
    assert not inv.compare(base, more | {"cfi": 0.9399, "rmsea": 0.050})["retained"]
    assert not inv.compare(base, more | {"cfi": 0.950, "rmsea": 0.0651})["retained"]


# ---- Across the synthetic generator's disciplines (issue 17: detection when planted, retention when not) --


def _cohort(default_config: dict, seed: int, noninvariance: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A default-size synthetic cohort's first scored questionnaires and its patients."""
    from alliance.measurement.tables import first_questionnaires
    from alliance.scoring.scores import score_sessions
    from alliance.simulation.synthetic import generate_cohort

    synthetic = default_config["synthetic"]
    cfg = synthetic | {"alliance": synthetic["alliance"] | {"noninvariance": noninvariance}}
    early_window = default_config["features"]["early_window"]
    # The cohort `synthesize` draws with this seed, without its truth population.
    patients, sessions, _, _ = generate_cohort(cfg, early_window, np.random.default_rng(seed))
    scored = sessions.assign(attended=sessions["attended"].astype(bool))
    return first_questionnaires(scored, score_sessions(scored, _wai())), patients


def _cohort_answers(default_config: dict, seed: int, noninvariance: dict) -> pd.DataFrame:
    return inv.group_answers(*_cohort(default_config, seed, noninvariance), _wai())


def test_group_answers_keys_the_first_questionnaires_and_adds_the_group():
    wai = _wai()
    first = pd.DataFrame({"patient_id": ["a", "b"], "session": [2, 1],
                          **{column: [4, 5] for column in wai.item_columns}})
    patients = pd.DataFrame({"patient_id": ["b", "a"], "discipline": ["osteopathy", "nutrition"]})
    answers = inv.group_answers(first, patients, wai)
    assert answers["patient_id"].tolist() == ["a", "b"]
    assert answers[wai.item_column(7)].tolist() == [4.0, 5.0]
    assert answers["discipline"].tolist() == ["nutrition", "osteopathy"]
    assert list(answers.columns[:4]) == [wai.item_column(i) for i in wai.dimensions["bond"]]


@pytest.fixture(scope="module")
def plain_cohort(default_config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A default synthetic cohort (first questionnaires, patients), every discipline measured alike."""
    return _cohort(default_config, 100, {"discipline": ""})


@pytest.fixture(scope="module")
def plain_answers(plain_cohort) -> pd.DataFrame:
    return inv.group_answers(*plain_cohort, _wai())


def test_invariance_tables_per_level_per_group_and_not_estimable_rows(plain_cohort):
    from alliance.instruments import load_instrument

    first, patients = plain_cohort
    discipline, parameters = inv.invariance_tables(first, patients, _wai(), ["discipline"])
    assert list(discipline.columns) == inv.INVARIANCE_COLUMNS and len(discipline) == 3
    assert discipline["level"].tolist() == ["configural", "metric", "scalar"]
    assert (discipline["status"] == "fitted").all() and (discipline["highest_level"] == "scalar").all()
    # Every discipline large enough, the largest (psychotherapy, 40% of patients) the reference.
    assert discipline["n_groups"].iloc[0] == 4 and discipline["groups"].iloc[0].startswith("psychotherapy")
    assert discipline["left_out"].iloc[0] == "" and discipline["n"].iloc[0] == len(
        inv.group_answers(first, patients, _wai()).dropna())
    assert discipline["retained"].tolist()[1:] == [True, True] and pd.isna(discipline["delta_cfi"].iloc[0])
    # Each group's configural loadings and intercepts: 12 items in each of the 4 disciplines, the first
    # item of each dimension the marker (loading 1), intercepts near the items' means (about 4 of 5).
    assert list(parameters.columns) == inv.PARAMETER_COLUMNS and len(parameters) == 4 * 12
    markers = parameters.groupby(["group", "factor"])["loading"].first()
    assert np.allclose(markers, 1.0) and parameters["intercept"].between(3, 5).all()
    haq, none = inv.invariance_tables(first, patients, load_instrument("haq_ii"), ["discipline"])
    assert list(none.columns) == inv.PARAMETER_COLUMNS and none.empty
    assert haq["status"].tolist() == ["not_estimable"]
    assert haq["reason"].iloc[0].endswith("does not map its items to bond, goal and task")
    assert '"template"' in haq["reason_message"].iloc[0]
    # a form whose goal is one item (a reviewer's custom form, its subscales fitted by the CFA above): the
    # reason says the models take the dimension map, not the subscales
    from dataclasses import replace

    wai = _wai()
    single = replace(wai, dimensions=wai.dimensions | {"goal": (4,)})
    (row,) = inv.invariance_tables(first, patients, single, ["discipline"])[0].to_dict(orient="records")
    assert row["status"] == "not_estimable" and row["reason"].endswith(
        "measures a dimension by one item: the invariance models take the bond, goal and task map of its "
        "items (not its subscales, which the factor analysis above uses), and a factor needs at least two")
    too_big, _ = inv.invariance_tables(first, patients, _wai(), ["discipline", "site"], min_group_size=1000)
    assert too_big["grouping"].tolist() == ["discipline", "site"]
    assert too_big["reason"].tolist() == [
        f"0 groups of {groups} with at least 1000 patients with every item answered: invariance compares two "
        "or more" for groups in ("disciplines", "sites")]
    # pre-scored data: no first questionnaire answered by item, and the reason says so (not "0 groups")
    prescored, _ = inv.invariance_tables(first.iloc[:0], patients, _wai(), ["discipline"])
    assert prescored["reason"].tolist() == [
        "no patient answered the questionnaire item by item (a pre-scored score has no items): invariance is "
        "tested on the item answers"]


def test_invariance_rejected_with_a_planted_intercept(default_config):
    """Item 7 shifted by 0.8 in physiotherapy: scalar invariance fails, metric holds."""
    answers = _cohort_answers(default_config, 200, {"discipline": "physiotherapy", "item": 7,
                                                     "intercept": 0.8, "loading": 1.0})
    result = inv.group_invariance(answers, _wai())
    assert result["highest_level"] == "metric"
    scalar = result["table"].set_index("level").loc["scalar"]
    assert scalar["delta_cfi"] < inv.CHEN_MIN_DELTA_CFI


def test_small_groups_are_left_out_and_one_group_is_not_estimable(plain_answers):
    answers = plain_answers
    sizes = answers.dropna()["discipline"].value_counts()  # complete rows, largest first
    result = inv.group_invariance(answers, _wai(), min_group_size=int(sizes.iloc[1]))
    assert sorted(result["left_out"]) == sorted(sizes.index[2:])
    assert len(result["groups"]) == 2
    with pytest.raises(inv.NotEstimable, match="1 group of disciplines with at least"):
        inv.group_invariance(answers, _wai(), min_group_size=int(sizes.iloc[0]))


def test_the_generator_changes_only_the_chosen_item_in_the_chosen_discipline(default_config, plain_answers):
    plain = plain_answers
    shifted = _cohort_answers(default_config, 100, {"discipline": "nutrition", "item": 7, "intercept": -3.0,
                                                  "loading": 1.0})
    wai = _wai()
    before, after = (table.drop(columns=["patient_id", "discipline"]) for table in (plain, shifted))
    changed = (before != after) & before.notna()
    assert set(changed.columns[changed.any()]) == {wai.item_column(7)}
    rows = changed[wai.item_column(7)]
    assert rows.any() and (plain.loc[rows, "discipline"] == "nutrition").all()


def _wai():
    from alliance.instruments import load_instrument

    return load_instrument("wai_sr")
