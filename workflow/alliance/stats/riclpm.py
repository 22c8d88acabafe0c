"""Random-intercept cross-lagged panel model (RI-CLPM) by full-information maximum likelihood (issue 17;
not yet in the workflow).

The RI-CLPM (Hamaker, Kuiper & Grasman, 2015) separates each patient's score on two variables
(here: therapeutic alliance ``x`` and symptoms ``y``) at waves ``1..T`` into a wave mean, a stable
person-level random intercept and a within-person deviation.  The within-person deviations follow a
bivariate first-order autoregressive process whose lagged effects are the quantities of interest.

The model is specified and differentiated by semopy (``semopy.ModelMeans``); this module adds what
is needed to reproduce lavaan (``missing = "ML"``) to printed precision:

* a FIML objective and gradient working on per-missing-data-pattern sufficient statistics (semopy's
  own FIML objective returns infinity whenever ``-2 log L`` minus its constant is negative, which
  happens with small variances, and recomputes the centred data for every case at every call);
* an optimiser chain L-BFGS-B -> SLSQP -> L-BFGS-B followed by Newton steps on a finite-difference
  Hessian, from several starting points, and a convergence check by the gradient (not by the
  optimiser's ``success`` flag);
* standard errors from the observed information (finite-difference Hessian of the analytic FIML
  gradient), as lavaan's default for ``missing = "ML"``;
* the likelihood-ratio chi-square against the saturated model fitted by EM, and the baseline
  (independence) model for CFI/TLI;
* estimation on data divided by one standard deviation per variable (results are transformed back),
  so that tolerances and finite-difference steps do not depend on the units of measurement;
* optionally, cluster-robust standard errors for patients nested in therapists: the sandwich of the
  observed information and the per-therapist sums of the casewise FIML scores (Liang & Zeger, 1986;
  Cameron & Miller, 2015), which needs one fit instead of the hundreds of a cluster bootstrap.

References
----------
Hamaker, E. L., Kuiper, R. M., & Grasman, R. P. P. P. (2015). A critique of the cross-lagged panel
model. *Psychological Methods*, 20(1), 102-116. https://doi.org/10.1037/a0038889

Mulder, J. D., & Hamaker, E. L. (2021). Three extensions of the random intercept cross-lagged panel
model. *Structural Equation Modeling*, 28(4), 638-648. https://doi.org/10.1080/10705511.2020.1784738

Arbuckle, J. L. (1996). Full information estimation in the presence of incomplete data. In
G. A. Marcoulides & R. E. Schumacker (Eds.), *Advanced structural equation modeling* (pp. 243-277).

Liang, K.-Y., & Zeger, S. L. (1986). Longitudinal data analysis using generalized linear models.
*Biometrika*, 73(1), 13-22. https://doi.org/10.1093/biomet/73.1.13

Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to cluster-robust inference. *Journal of
Human Resources*, 50(2), 317-372. https://doi.org/10.3368/jhr.50.2.317

Little, R. J. A., & Rubin, D. B. (2002). *Statistical analysis with missing data* (2nd ed.), ch. 11
(EM for the multivariate normal).

Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal of Statistical
Software*, 48(2), 1-36. https://doi.org/10.18637/jss.v048.i02

Igolkina, A. A., & Meshcheryakov, G. (2020). semopy: A Python package for structural equation
modeling. *Structural Equation Modeling*, 27(6), 952-963.
https://doi.org/10.1080/10705511.2019.1704289
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import semopy
from scipy import linalg, optimize, stats

from alliance.errors import NOT_CONVERGED, NotEstimable
from alliance.i18n import Count, Message, Plural

__all__ = [
    "description",
    "fit_riclpm",
    "fit_riclpm_summary",
    "wide_from_long",
]

# Largest absolute element of the gradient of -2 log L / n (standardised data) accepted as converged.
# lavaan checks the gradient of its objective against 1e-3 (``optim.dx.tol``); ours is stricter.
GRADIENT_TOLERANCE = 1e-5

# A start is abandoned once a variance or covariance exceeds this many times the largest variance of the
# (standardised) data: it is running off along a flat ridge of the likelihood, where the patients' stable
# level and the first wave's deviation trade off without bound (ANALYSIS_PLAN.md, H4c, version 24). On
# 196 generated cohorts no start that reached an estimate went past 1.7 (variables scaled to an average
# variance of 1), every start that ran off passed 57; lavaan's Demo.growth solution reaches 2.6.
RUNOFF_BOUND = 10.0

# Fewest therapists (clusters) for cluster-robust standard errors: the project's threshold for
# cluster-robust inference, alliance.models.dimension_sem.MIN_THERAPISTS (not imported: a stats
# module must not import a later stage).
MIN_THERAPISTS = 10

_LAG_KINDS = {"a": "x->x", "b": "y->x", "c": "y->y", "d": "x->y"}


def correlation_interval(r: float, se: float, groups: int) -> dict[str, float]:
    """A correlation's cluster-robust SE (delta method) and its 95% CI on Fisher's z scale, t with
    ``groups - 1`` df, transformed back: inside (-1, 1), unlike r +- t SE near the bounds (Fisher 1921);
    no interval (NaN) for an improper |r| >= 1."""
    if not abs(r) < 1:
        return {"se_cluster": se, "ci_low": math.nan, "ci_high": math.nan}
    half = float(stats.t.ppf(0.975, groups - 1)) * se / (1.0 - r * r)
    z = math.atanh(r)
    return {"se_cluster": se, "ci_low": math.tanh(z - half), "ci_high": math.tanh(z + half)}


# --------------------------------------------------------------------------------------------
# Model syntax
# --------------------------------------------------------------------------------------------


def _specification(
    waves: int, constrained: bool, equal_innovations: bool, random_intercepts: bool
) -> list[tuple[str, str, str, str]]:
    """Return the model as rows ``(lhs, op, rhs, label_or_fixed_value)``."""
    if waves < 3:
        raise ValueError(f"the RI-CLPM needs at least 3 waves, got {waves}")
    rows: list[tuple[str, str, str, str]] = []
    t_all = range(1, waves + 1)
    if random_intercepts:
        for v in ("x", "y"):
            rows += [(f"k{v}", "=~", f"{v}{t}", "1") for t in t_all]
    for v in ("x", "y"):
        rows += [(f"w{v}{t}", "=~", f"{v}{t}", "1") for t in t_all]
    for v in ("x", "y"):
        rows += [(f"{v}{t}", "~~", f"{v}{t}", "0") for t in t_all]
    for v in ("x", "y"):
        rows += [(f"{v}{t}", "~", "1", f"m{v}{t}") for t in t_all]
    if random_intercepts:
        rows += [("kx", "~~", "kx", "vkx"), ("ky", "~~", "ky", "vky"), ("kx", "~~", "ky", "ckxy")]
    for t in range(2, waves + 1):
        s = "" if constrained else str(t)
        rows += [
            (f"wx{t}", "~", f"wx{t - 1}", f"a{s}"),
            (f"wx{t}", "~", f"wy{t - 1}", f"b{s}"),
            (f"wy{t}", "~", f"wy{t - 1}", f"c{s}"),
            (f"wy{t}", "~", f"wx{t - 1}", f"d{s}"),
        ]
    rows += [("wx1", "~~", "wx1", "vwx1"), ("wy1", "~~", "wy1", "vwy1"), ("wx1", "~~", "wy1", "cwxy1")]
    for t in range(2, waves + 1):
        s = "" if equal_innovations else str(t)
        rows += [
            (f"wx{t}", "~~", f"wx{t}", f"ux{s}"),
            (f"wy{t}", "~~", f"wy{t}", f"uy{s}"),
            (f"wx{t}", "~~", f"wy{t}", f"uxy{s}"),
        ]
    return rows


def description(
    waves: int,
    *,
    constrained: bool,
    equal_innovations: bool = False,
    random_intercepts: bool = True,
) -> str:
    """Return the semopy syntax of the RI-CLPM for observed variables ``x1..xT`` and ``y1..yT``.

    Parameters
    ----------
    waves : int
        Number of waves ``T`` (at least 3).
    constrained : bool
        If True the autoregressive (``a``: x->x, ``c``: y->y) and cross-lagged (``b``: y->x,
        ``d``: x->y) effects carry one label each and are therefore equal over time; otherwise
        they are labelled per wave (``a2 .. aT`` etc., the number being the outcome's wave).
    equal_innovations : bool, optional
        If True the residual (innovation) variances ``ux``, ``uy`` and covariance ``uxy`` of waves
        2..T are equal over time (model C of the reference demonstration).  Default False.
    random_intercepts : bool, optional
        If False the random intercepts are left out, which gives the traditional cross-lagged
        panel model (CLPM; equivalent to fixing their variances and covariance to 0).  Default True.

    Returns
    -------
    str
        Model description for ``semopy.ModelMeans(desc, cov_diag=True)``.  ``cov_diag=True`` is
        required: semopy otherwise adds covariances between the exogenous latent variables, i.e.
        between the random intercepts and the wave-1 within components, which the RI-CLPM fixes to 0.

    Notes
    -----
    Random intercepts ``kx =~ 1*x1 + ... + 1*xT`` (same for y) with free variances and covariance;
    within components ``wx_t =~ 1*x_t`` with the observed residual variances fixed to 0; lagged
    regressions ``wx_t ~ a*wx_{t-1} + b*wy_{t-1}`` and ``wy_t ~ c*wy_{t-1} + d*wx_{t-1}``; free
    within covariance at wave 1 and residual covariances at later waves; free observed means per
    wave (labels ``mx1 ..``, ``my1 ..``).  This is the lavaan model of Hamaker et al. (2015) as
    written by Mulder & Hamaker (2021).

    References
    ----------
    Hamaker, E. L., Kuiper, R. M., & Grasman, R. P. P. P. (2015). A critique of the cross-lagged
    panel model. *Psychological Methods*, 20(1), 102-116.
    """
    rows = _specification(waves, constrained, equal_innovations, random_intercepts)
    lines = []
    for lhs, op, rhs, lab in rows:
        lines.append(f"{lhs} {op} {lab}*{rhs}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Data handling
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pattern:
    obs: np.ndarray  # indices of the observed variables
    mis: np.ndarray  # indices of the missing variables
    n: int
    mean: np.ndarray  # pattern mean of the observed variables
    scatter: np.ndarray  # sum of centred cross-products (around the pattern mean)


def _patterns(values: np.ndarray) -> list[_Pattern]:
    """Group the rows of ``values`` (NaN = missing) by missing-data pattern."""
    mask = np.isfinite(values)
    keys, inverse = np.unique(mask, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    out = []
    p = values.shape[1]
    for g, key in enumerate(keys):
        obs = np.flatnonzero(key)
        block = values[inverse == g][:, obs]
        mean = block.mean(axis=0)
        centred = block - mean
        out.append(
            _Pattern(
                obs=obs,
                mis=np.setdiff1d(np.arange(p), obs),
                n=block.shape[0],
                mean=mean,
                scatter=centred.T @ centred,
            )
        )
    return out


@dataclass(frozen=True)
class _Batch:
    """The missing-data patterns with the same number ``q`` of observed variables, stacked."""

    obs: np.ndarray  # (G, q) observed variable indices
    mis: np.ndarray  # (G, p - q) missing variable indices
    n: np.ndarray  # (G,) cases per pattern
    mean: np.ndarray  # (G, q)
    scatter: np.ndarray  # (G, q, q) centred cross-products
    raw: np.ndarray  # (G, q, q) raw cross-products: scatter + n * mean mean'
    flat_oo: np.ndarray  # (G, q, q) positions in a flattened p x p matrix
    flat_mo: np.ndarray  # (G, p - q, q)
    flat_om: np.ndarray  # (G, q, p - q)
    flat_mm: np.ndarray  # (G, p - q, p - q)


def _batches(patterns: list[_Pattern], p: int) -> list[_Batch]:
    """Stack patterns by number of observed variables so that numpy can work on them at once."""
    groups: dict[int, list[_Pattern]] = {}
    for pat in patterns:
        groups.setdefault(pat.obs.size, []).append(pat)
    out = []
    for _, pats in sorted(groups.items()):
        obs = np.stack([pat.obs for pat in pats])
        mis = np.stack([pat.mis for pat in pats])
        n = np.array([pat.n for pat in pats], dtype=float)
        mean = np.stack([pat.mean for pat in pats])
        scatter = np.stack([pat.scatter for pat in pats])
        out.append(
            _Batch(
                obs=obs, mis=mis, n=n, mean=mean, scatter=scatter,
                raw=scatter + n[:, None, None] * mean[:, :, None] * mean[:, None, :],
                flat_oo=obs[:, :, None] * p + obs[:, None, :],
                flat_mo=mis[:, :, None] * p + obs[:, None, :],
                flat_om=obs[:, :, None] * p + mis[:, None, :],
                flat_mm=mis[:, :, None] * p + mis[:, None, :],
            )
        )
    return out


def _inverse_logdet(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses and log-determinants of a stack of symmetric matrices; LinAlgError if one is not PD."""
    chol = np.linalg.cholesky(s)
    diag = np.diagonal(chol, axis1=1, axis2=2)
    if not np.all(diag > 0):
        raise np.linalg.LinAlgError("not positive definite")
    inv_chol = np.linalg.inv(chol)
    return np.swapaxes(inv_chol, 1, 2) @ inv_chol, 2.0 * np.log(diag).sum(axis=1)


def _fiml_value(batches: list[_Batch], mu: np.ndarray, sigma: np.ndarray) -> float:
    """``-2 log L`` without its constant ``n_values * log(2 pi)``; inf if a block is not PD."""
    if not (np.all(np.isfinite(sigma)) and np.all(np.isfinite(mu))):
        return math.inf
    total = 0.0
    for b in batches:
        try:
            w, logdet = _inverse_logdet(sigma[b.obs[:, :, None], b.obs[:, None, :]])
        except np.linalg.LinAlgError:
            return math.inf
        d = b.mean - mu[b.obs]
        total += (
            b.n @ logdet
            + np.einsum("gij,gji->", w, b.scatter)
            + np.einsum("g,gi,gij,gj->", b.n, d, w, d)
        )
    return float(total) if math.isfinite(total) else math.inf


def _fiml_gradient_moments(
    batches: list[_Batch], mu: np.ndarray, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Derivatives of :func:`_fiml_value` with respect to Sigma (p x p) and mu; None if not PD."""
    p = sigma.shape[0]
    g_sigma = np.zeros(p * p)
    g_mu = np.zeros(p)
    for b in batches:
        try:
            w, _ = _inverse_logdet(sigma[b.obs[:, :, None], b.obs[:, None, :]])
        except np.linalg.LinAlgError:
            return None
        d = b.mean - mu[b.obs]
        wd = np.einsum("gij,gj->gi", w, d)
        n = b.n[:, None, None]
        block = n * w - w @ b.scatter @ w - n * wd[:, :, None] * wd[:, None, :]
        g_sigma += np.bincount(b.flat_oo.ravel(), weights=block.ravel(), minlength=p * p)
        g_mu += np.bincount(b.obs.ravel(), weights=(-2.0 * b.n[:, None] * wd).ravel(), minlength=p)
    return g_sigma.reshape(p, p), g_mu


def _casewise_moments(
    values: np.ndarray, mu: np.ndarray, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the casewise log-likelihoods' derivatives with respect to Sigma and mu are made of.

    Case ``i`` with observed variables ``o`` has
    ``l_i = -1/2 [log|Sigma_oo| + (x_o - mu_o)' Sigma_oo^-1 (x_o - mu_o)]`` (Arbuckle, 1996), whose
    derivatives are ``dl_i / dmu = u_i`` and ``dl_i / dSigma = -1/2 (W - u_i u_i')`` with
    ``W = Sigma_oo^-1`` and ``u_i = W (x_o - mu_o)``, both placed at the observed positions of the
    p-vector and p x p matrix (zeros elsewhere).  Computed pattern by pattern, for all of a pattern's
    cases at once.

    Parameters
    ----------
    values : numpy.ndarray
        n x p data, NaN where missing; every row has a value and every ``Sigma_oo`` is positive definite.
    mu, sigma : numpy.ndarray
        Model-implied mean (p) and covariance matrix (p x p).

    Returns
    -------
    u : numpy.ndarray
        n x p, ``u_i`` of each case.
    pattern : numpy.ndarray
        n, each case's missing-data pattern (an index into ``inverse``).
    inverse : numpy.ndarray
        P x p x p, ``W`` of each pattern.
    """
    n, p = values.shape
    keys, pattern = np.unique(np.isfinite(values), axis=0, return_inverse=True)
    pattern = np.asarray(pattern).ravel()
    u = np.zeros((n, p))
    inverse = np.zeros((len(keys), p, p))
    order = np.argsort(pattern, kind="stable")
    starts = np.searchsorted(pattern[order], np.arange(len(keys)))
    for g, (key, rows) in enumerate(zip(keys, np.split(order, starts[1:]), strict=True)):
        obs = np.flatnonzero(key)
        w = _inverse_logdet(sigma[np.ix_(obs, obs)][None])[0][0]
        inverse[g][np.ix_(obs, obs)] = w
        u[np.ix_(rows, obs)] = (values[np.ix_(rows, obs)] - mu[obs]) @ w
    return u, pattern, inverse


def wide_from_long(
    long: pd.DataFrame, *, patient: str, session: str, x: str, y: str, waves: int, first: int = 1,
    step: int = 1,
) -> pd.DataFrame:
    """Reshape session-level data to the wide layout ``x1..xT, y1..yT`` used by :func:`fit_riclpm`.

    Parameters
    ----------
    long : pandas.DataFrame
        One row per patient and session.
    patient, session : str
        Column names of the patient identifier and of the session number (1, 2, ...).
    x, y : str
        Column names of the two variables (e.g. alliance and symptoms).
    waves : int
        Number of waves ``T``: sessions ``first, first + step, ..., first + (T - 1) step`` are kept,
        the others dropped.
    first : int, optional
        The session of the first wave (default 1).
    step : int, optional
        Sessions from one wave to the next (default 1): wave ``t`` is session ``first + (t - 1) step``
        (an alliance given every third session: ``step=3``).

    Returns
    -------
    pandas.DataFrame
        One row per patient (index: patient identifier), columns ``x1..xT`` then ``y1..yT``;
        sessions a patient did not attend are NaN.
    """
    if long.duplicated([patient, session]).any():
        raise ValueError("some patient has more than one row for the same session")
    sessions = [first + (t - 1) * step for t in range(1, waves + 1)]
    keep = long[long[session].isin(sessions)]
    wide = keep.pivot(index=patient, columns=session, values=[x, y]).reindex(long[patient].unique())
    out = pd.DataFrame(index=wide.index)
    for src, dst in ((x, "x"), (y, "y")):
        for t, number in enumerate(sessions, start=1):
            column = (src, number)
            out[f"{dst}{t}"] = wide[column] if column in wide.columns else np.nan
    return out


# --------------------------------------------------------------------------------------------
# semopy model with a pattern-wise FIML objective
# --------------------------------------------------------------------------------------------


class _PatternFIML(semopy.ModelMeans):
    """semopy ``ModelMeans`` whose FIML objective/gradient use per-pattern sufficient statistics.

    semopy's ``obj_fiml`` returns ``inf`` when the loss is negative (valid with small variances) and
    recentres every case at every call; here the loss is exact for any sign and costs O(patterns).
    The objective is ``-2 log L`` minus ``n_values * log(2 pi)`` (semopy's FIML convention).
    """

    def __init__(self, desc: str) -> None:
        super().__init__(desc, cov_diag=True)
        self._pats: list[_Pattern] = []
        self._batches: list[_Batch] = []

    def attach(self, patterns: list[_Pattern]) -> None:
        """Set up semopy's parameter structures without its data loading and keep the patterns.

        Free parameters get a provisional start of 0 (the optimiser supplies its own starting
        vector), so semopy's data-based starting rules are not needed; fixed loadings and fixed
        zero variances are written into the matrices by ``load_starting_values``.
        """
        for par in self.parameters.values():
            if par.start is None:
                par.start = 0.0
        self.load_starting_values()
        self.prepare_params()
        # No exogenous covariates: the model-implied mean is one vector, not one per case.
        self.mx_g = np.ones((1, 1))
        self._pats = patterns
        self._p = len(self.vars["observed"])
        self._batches = _batches(patterns, self._p)

    def moments(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Model-implied mean and covariance at ``x`` plus semopy's auxiliary matrices."""
        self.update_matrices(x)
        sigma, (m, c) = self.calc_sigma()
        mu = self.calc_mean(m)[:, 0]
        return mu, sigma, m, c

    def obj_fiml(self, x: np.ndarray) -> float:
        """FIML objective (``-2 log L`` minus constant)."""
        mu, sigma, _, _ = self.moments(x)
        return _fiml_value(self._batches, mu, sigma)

    def derivatives(self, m: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stack semopy's derivatives of Sigma (k, p, p) and of mu (k, p)."""
        p = self._p
        ds = self.calc_sigma_grad(m, c)
        dm = self.calc_mean_grad(m, c)
        d_sigma = np.zeros((len(ds), p, p))
        d_mu = np.zeros((len(dm), p))
        for i, (gs, gm) in enumerate(zip(ds, dm, strict=True)):
            if np.ndim(gs):
                d_sigma[i] = gs
            if np.ndim(gm):
                d_mu[i] = np.asarray(gm)[:, 0]
        return d_sigma, d_mu

    def grad_fiml(self, x: np.ndarray) -> np.ndarray:
        """Analytic gradient of :meth:`obj_fiml`; inf where Sigma is not positive definite."""
        mu, sigma, m, c = self.moments(x)
        moments = _fiml_gradient_moments(self._batches, mu, sigma)
        if moments is None:
            return np.full(len(x), np.inf)
        d_sigma, d_mu = self.derivatives(m, c)
        return np.einsum("kij,ij->k", d_sigma, moments[0]) + d_mu @ moments[1]

    def casewise_scores(self, x: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Each case's score: the gradient of its log-likelihood contribution at ``x``.

        With ``W``, ``u_i`` and the pattern of case ``i`` from :func:`_casewise_moments` and semopy's
        derivatives ``dSigma/dtheta_k`` and ``dmu/dtheta_k`` (the same as :meth:`grad_fiml` uses),
        ``s_ik = -1/2 tr(W dSigma_k) + 1/2 u_i' dSigma_k u_i + dmu_k' u_i``.  The scores of the cases
        of the attached patterns sum to ``-1/2`` times :meth:`grad_fiml` (the objective is ``-2 log L``).

        Parameters
        ----------
        x : numpy.ndarray
            Free parameters, in the order of :meth:`grad_fiml`.
        values : numpy.ndarray
            n x p data (NaN where missing), columns in the model's order of observed variables and on
            the scale of the attached patterns; every row has a value.

        Returns
        -------
        numpy.ndarray
            n x k scores, one row per row of ``values``.

        References
        ----------
        Arbuckle, J. L. (1996). Full information estimation in the presence of incomplete data. In
        G. A. Marcoulides & R. E. Schumacker (Eds.), *Advanced structural equation modeling*
        (pp. 243-277).
        """
        mu, sigma, m, c = self.moments(x)
        d_sigma, d_mu = self.derivatives(m, c)
        u, pattern, inverse = _casewise_moments(values, mu, sigma)
        quadratic = np.einsum("ia,kab,ib->ik", u, d_sigma, u, optimize=True)
        trace = np.einsum("gab,kab->gk", inverse, d_sigma)
        return 0.5 * (quadratic - trace[pattern]) + u @ d_mu.T

    def expected_information(self, x: np.ndarray) -> np.ndarray:
        """Expected (Fisher) information of the parameters, summed over missing-data patterns."""
        _mu, sigma, m, c = self.moments(x)
        d_sigma, d_mu = self.derivatives(m, c)
        k = len(x)
        info = np.zeros((k, k))
        for pat in self._pats:
            o = pat.obs
            w = linalg.inv(sigma[np.ix_(o, o)], check_finite=False)
            ds = d_sigma[:, o][:, :, o]
            dmu = d_mu[:, o]
            wds = np.einsum("ab,kbc->kac", w, ds)
            info += pat.n * (dmu @ w @ dmu.T + 0.5 * np.einsum("iab,jba->ij", wds, wds))
        return info


# --------------------------------------------------------------------------------------------
# Estimation helpers
# --------------------------------------------------------------------------------------------


def _pattern_moments(patterns: list[_Pattern], p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Available-case counts, means and ML variances of each variable, from the patterns."""
    count = np.zeros(p)
    total = np.zeros(p)
    for pat in patterns:
        count[pat.obs] += pat.n
        total[pat.obs] += pat.n * pat.mean
    mean = np.divide(total, count, out=np.full(p, np.nan), where=count > 0)
    ss = np.zeros(p)
    for pat in patterns:
        dev = pat.mean - mean[pat.obs]
        ss[pat.obs] += np.diag(pat.scatter) + pat.n * dev**2
    var = np.divide(ss, count, out=np.full(p, np.nan), where=count > 0)
    return count, mean, var


# Starting points tried in turn: (share of each variance given to the random intercept, starting
# autoregression).  The within variance at later waves starts at (1 - share) * var * (1 - ar^2).
START_POINTS = ((0.5, 0.0), (0.3, 0.6), (0.1, 0.6), (0.7, 0.3), (0.9, 0.0), (0.2, 0.3))


def _start_values(
    labels: list[str], observed: list[str], mean: np.ndarray, var: np.ndarray, share: float, ar: float
) -> np.ndarray:
    """Starting values: observed means, variances split between person and within level, lags 0
    except the autoregressions (``ar``), covariances 0."""
    m = dict(zip(observed, mean, strict=True))
    v = dict(zip(observed, var, strict=True))
    waves = len(observed) // 2
    avg = {z: float(np.mean([v[f"{z}{t}"] for t in range(1, waves + 1)])) for z in ("x", "y")}
    if "vkx" not in labels:  # CLPM: everything is within-person
        share = 0.0
    start = []
    for lab in labels:
        if lab.startswith(("mx", "my")):
            start.append(m[lab[1:]])
        elif lab in ("vkx", "vky"):
            start.append(share * avg[lab[-1]])
        elif lab.startswith(("vwx", "vwy")):
            start.append((1.0 - share) * v[lab[2:]])
        elif lab.startswith(("ux", "uy")) and not lab.startswith("uxy"):
            z, t = lab[1], lab[2:]
            start.append((1.0 - share) * (1.0 - ar**2) * (v[f"{z}{t}"] if t else avg[z]))
        elif lab in ("a", "c") or (lab[0] in "ac" and lab[1:].isdigit()):  # autoregressions
            start.append(ar)
        else:  # cross-lagged effects and covariances
            start.append(0.0)
    return np.asarray(start, dtype=float)


def _parameter_scale(label: str, sx: float, sy: float) -> float:
    """Factor turning a parameter estimated on standardised data back into the data's units."""
    if label.startswith(("mx", "my")):
        return sx if label[1] == "x" else sy
    if label in ("vkx", "vky") or label.startswith(("vwx", "vwy")):
        return sx**2 if label[-1] == "x" or label[2] == "x" else sy**2
    if label.startswith(("ckxy", "cwxy", "uxy")):
        return sx * sy
    if label.startswith(("ux", "uy")):
        return sx**2 if label[1] == "x" else sy**2
    return {"a": 1.0, "c": 1.0, "b": sx / sy, "d": sy / sx}[label[0]]


def _fd_hessian(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Central finite-difference Hessian of an analytic gradient, symmetrised."""
    k = len(x)
    h = np.cbrt(np.finfo(float).eps) * np.maximum(np.abs(x), 1.0)
    hess = np.empty((k, k))
    with np.errstate(invalid="ignore", over="ignore"):  # inf gradients near a singular Sigma
        for i in range(k):
            e = np.zeros(k)
            e[i] = h[i]
            hess[:, i] = (grad(x + e) - grad(x - e)) / (2.0 * h[i])
        return 0.5 * (hess + hess.T)


class _RanOff(Exception):
    """A start ran off: a variance or covariance passed `RUNOFF_BOUND`; ``args[0]`` is the point."""


def _minimise(
    model: _PatternFIML, x0: np.ndarray, n: int, runoff: tuple[np.ndarray, float]
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Minimise -2 log L: L-BFGS-B -> SLSQP -> L-BFGS-B, each from the previous one, then Newton.

    Returns the solution, ``-2 log L`` minus constant there, and the gradient and finite-difference
    Hessian of that divided by n at the solution. Raises `_RanOff` as soon as a parameter of
    ``runoff[0]`` (the indices of the variances and covariances) passes ``runoff[1]`` in absolute value.
    The objective is divided by ``n`` so that the tolerances do not depend on the sample size.
    """
    variances, bound = runoff

    def f(x: np.ndarray) -> float:
        return model.obj_fiml(x) / n

    def g(x: np.ndarray) -> np.ndarray:
        return model.grad_fiml(x) / n

    def fg(x: np.ndarray) -> tuple[float, np.ndarray]:
        val = f(x)
        if not math.isfinite(val):  # covariance matrix not positive definite: push back
            return 1e10, np.zeros_like(x)
        return val, g(x)

    def watch(x: np.ndarray) -> None:
        if np.max(np.abs(x[variances]), initial=0.0) > bound:
            raise _RanOff(np.array(x))

    # ftol 1e-12, not lower: from a start in a flat valley, ftol 1e-15 crawled for 5,917 iterations (22 s)
    # to a point short of the optimum that later starts reach in 200; SLSQP and Newton polish after it.
    lbfgs = {"maxiter": 20000, "maxfun": 50000, "ftol": 1e-12, "gtol": 1e-10, "maxcor": 30}
    x = optimize.minimize(fg, x0, jac=True, method="L-BFGS-B", options=lbfgs, callback=watch).x
    if math.isfinite(f(x)):
        res = optimize.minimize(f, x, jac=g, method="SLSQP", options={"maxiter": 2000, "ftol": 1e-14})
        if math.isfinite(res.fun) and res.fun <= f(x):
            x = res.x
    watch(x)
    x = optimize.minimize(fg, x, jac=True, method="L-BFGS-B", options=lbfgs, callback=watch).x
    fx, gx = f(x), g(x)
    if not np.all(np.isfinite(gx)):
        return x, fx * n, gx, np.full((x.size, x.size), np.nan)

    hess = _fd_hessian(g, x)
    # Final full Newton steps, kept only while they lower the gradient without raising -2 log L.
    for _ in range(3):
        if not np.all(np.isfinite(hess)) or np.max(np.abs(gx)) < 1e-12:
            break
        try:
            step = -np.linalg.solve(hess, gx)
        except np.linalg.LinAlgError:
            break
        f_new = f(x + step)
        g_new = g(x + step)
        if not (math.isfinite(f_new) and f_new <= fx + 1e-12 and np.max(np.abs(g_new)) < np.max(np.abs(gx))):
            break
        x, fx, gx = x + step, f_new, g_new
        hess = _fd_hessian(g, x)
    return x, fx * n, gx, hess


def _is_covariance(label: str) -> bool:
    """Whether a parameter label is a variance or covariance (of the intercepts, of the first wave's
    deviations, or of the innovations)."""
    return label.startswith(("vk", "ck", "vw", "cw", "ux", "uy"))


def _runoff_reason(points: list[np.ndarray], labels: list[str], random_intercepts: bool, first_session: int,
                   step: int) -> Message:
    """Why no estimate exists when every start ran off (`_RanOff`), in words: the session of the wave
    whose deviation trades off with the stable levels (the within-patient variance or covariance furthest
    out at the first start's run-off point)."""
    if not random_intercepts:
        return Plural("the estimates run off without bound from the {n} starting point: these data do not "
                      "identify the model",
                      "the estimates run off without bound from all {n} starting points: these data do not "
                      "identify the model", n=len(points))
    within = [i for i, lab in enumerate(labels) if _is_covariance(lab) and not lab.startswith(("vk", "ck"))]
    label = labels[max(within, key=lambda i: abs(points[0][i]))]
    wave = int(label.lstrip("vwcuxy") or 2)  # vwx1, cwxy1: wave 1; ux3, uxy3: wave 3; equal innovations: 2
    return Plural("the estimates run off without bound from the {n} starting point: the data do not "
                  "separate the patients' stable levels from their deviations at session {session} (a flat "
                  "likelihood)",
                  "the estimates run off without bound from all {n} starting points: the data do not "
                  "separate the patients' stable levels from their deviations at session {session} (a flat "
                  "likelihood)", n=len(points), session=first_session + (wave - 1) * step)


def _is_minimum(hess: np.ndarray) -> bool:
    """Whether a Hessian is finite and positive definite (a strict local minimum)."""
    if not np.all(np.isfinite(hess)):
        return False
    eig = np.linalg.eigvalsh(hess)
    return bool(eig[0] > 1e-10 * max(eig[-1], 1.0))


def _saturated_em(
    batches: list[_Batch], mu: np.ndarray, var: np.ndarray, n: int, tol: float = 1e-11,
    max_iter: int = 20000,
) -> tuple[np.ndarray, np.ndarray]:
    """ML mean and covariance of incomplete normal data by EM (Little & Rubin 2002, sec. 11.2).

    Starts from the available-case means ``mu`` and variances ``var``.
    """
    p = mu.size
    sigma = np.diag(var)
    for _ in range(max_iter):
        s1 = np.zeros(p)
        s2 = np.zeros(p * p)
        for b in batches:
            sx_o = b.n[:, None] * b.mean
            s1 += np.bincount(b.obs.ravel(), weights=sx_o.ravel(), minlength=p)
            s2 += np.bincount(b.flat_oo.ravel(), weights=b.raw.ravel(), minlength=p * p)
            if b.mis.shape[1] == 0:
                continue
            smo = sigma[b.mis[:, :, None], b.obs[:, None, :]]
            try:
                reg = np.swapaxes(
                    np.linalg.solve(sigma[b.obs[:, :, None], b.obs[:, None, :]], np.swapaxes(smo, 1, 2)), 1, 2
                )
            except np.linalg.LinAlgError:
                raise NotEstimable(Message(
                    "the saturated model (free means and covariances) cannot be estimated, so the "
                    "chi-square test of fit cannot be computed"
                )) from None
            c0 = mu[b.mis] - np.einsum("gmq,gq->gm", reg, mu[b.obs])
            bsx = np.einsum("gmq,gq->gm", reg, sx_o)
            nn = b.n[:, None, None]
            s1 += np.bincount(b.mis.ravel(), weights=(b.n[:, None] * c0 + bsx).ravel(), minlength=p)
            tmo = c0[:, :, None] * sx_o[:, None, :] + reg @ b.raw
            s2 += np.bincount(b.flat_mo.ravel(), weights=tmo.ravel(), minlength=p * p)
            s2 += np.bincount(b.flat_om.ravel(), weights=np.swapaxes(tmo, 1, 2).ravel(), minlength=p * p)
            cond = sigma[b.mis[:, :, None], b.mis[:, None, :]] - reg @ np.swapaxes(smo, 1, 2)
            mm = (
                nn * c0[:, :, None] * c0[:, None, :]
                + c0[:, :, None] * bsx[:, None, :]
                + bsx[:, :, None] * c0[:, None, :]
                + reg @ b.raw @ np.swapaxes(reg, 1, 2)
                + nn * cond
            )
            s2 += np.bincount(b.flat_mm.ravel(), weights=mm.ravel(), minlength=p * p)
        mu_new = s1 / n
        sigma_new = s2.reshape(p, p) / n - np.outer(mu_new, mu_new)
        sigma_new = 0.5 * (sigma_new + sigma_new.T)
        change = max(np.max(np.abs(mu_new - mu)), np.max(np.abs(sigma_new - sigma)))
        mu, sigma = mu_new, sigma_new
        if change < tol * (1.0 + np.max(np.abs(sigma))):
            return mu, sigma
    raise NotEstimable(Message(
        "the saturated model (free means and covariances) did not converge, so the chi-square "
        "test of fit cannot be computed"), NOT_CONVERGED
    )


def _words(var: str, names: tuple[str | Message, str | Message], first_session: int, step: int) -> Message:
    return Message("{variable} at session {session}", variable=names[0] if var[0] == "x" else names[1],
                   session=first_session + (int(var[1:]) - 1) * step)


def _check_patterns(
    patterns: list[_Pattern], observed: list[str], names: tuple[str | Message, str | Message],
    min_patients: int, first_session: int, step: int,
) -> None:
    """Raise NotEstimable in words when the data cannot support the model."""
    waves = len(observed) // 2
    xi = [observed.index(f"x{t}") for t in range(1, waves + 1)]
    yi = [observed.index(f"y{t}") for t in range(1, waves + 1)]
    n3 = 0
    for pat in patterns:
        seen = np.zeros(len(observed), dtype=bool)
        seen[pat.obs] = True
        if np.sum(seen[xi] & seen[yi]) >= 3:
            n3 += pat.n
    if n3 < min_patients:
        raise NotEstimable(Plural(
            "only {n} patient has 3 or more sessions with both {x} and {y}; this model needs at least "
            "{minimum}",
            "only {n} patients have 3 or more sessions with both {x} and {y}; this model needs at least "
            "{minimum}", n=Count(n3), x=names[0], y=names[1], minimum=min_patients))
    count, _, var = _pattern_moments(patterns, len(observed))
    for j, var_name in enumerate(observed):
        if count[j] == 0:
            raise NotEstimable(Message("{variable} is recorded for no patient",
                                       variable=_words(var_name, names, first_session, step)))
        if count[j] < 2:
            raise NotEstimable(Plural("{variable} is recorded for {n} patient only",
                                      "{variable} is recorded for {n} patients only",
                                      variable=_words(var_name, names, first_session, step),
                                      n=Count(int(count[j]))))
        if not var[j] > 0:
            raise NotEstimable(Message("{variable} has the same value for every patient",
                                       variable=_words(var_name, names, first_session, step)))


def _wald(est: float, se: float) -> tuple[float, float]:
    if not (se > 0 and math.isfinite(se)):
        return math.nan, math.nan
    z = est / se
    return z, float(2.0 * stats.norm.sf(abs(z)))


def _cluster_sandwich(information: np.ndarray, scores: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Cluster-robust covariance ``H^-1 (sum_g s_g s_g') H^-1 G / (G - 1)`` of the free parameters.

    Parameters
    ----------
    information : numpy.ndarray
        k x k information ``H`` (the Hessian of ``-log L``).
    scores : numpy.ndarray
        n x k casewise scores (:meth:`_PatternFIML.casewise_scores`).
    clusters : numpy.ndarray
        n cluster codes ``0 .. G-1``; ``s_g`` is the sum of the scores of cluster ``g``'s cases.

    Returns
    -------
    numpy.ndarray
        k x k covariance matrix, with the small-sample factor ``G / (G - 1)`` (CR1).

    References
    ----------
    Liang, K.-Y., & Zeger, S. L. (1986). Longitudinal data analysis using generalized linear models.
    *Biometrika*, 73(1), 13-22.

    Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to cluster-robust inference.
    *Journal of Human Resources*, 50(2), 317-372.
    """
    groups = int(clusters.max()) + 1
    totals = np.zeros((groups, scores.shape[1]))
    np.add.at(totals, clusters, scores)
    bread = np.linalg.inv(information)
    return bread @ (totals.T @ totals) @ bread * groups / (groups - 1)


def _cluster_columns(estimate: float, se: float, groups: int) -> dict[str, float]:
    """A cluster-robust SE and the 95% CI from the t distribution with ``groups - 1`` df on it."""
    half = float(stats.t.ppf(0.975, groups - 1)) * se
    return {"se_cluster": se, "ci_low": estimate - half, "ci_high": estimate + half}


# --------------------------------------------------------------------------------------------
# Public fitting functions
# --------------------------------------------------------------------------------------------


@dataclass
class _Setup:
    spec: list[tuple[str, str, str, str]]
    model: _PatternFIML
    labels: list[str]
    observed: list[str]
    constrained: bool
    random_intercepts: bool


def _setup(waves: int, constrained: bool, equal_innovations: bool, random_intercepts: bool) -> _Setup:
    spec = _specification(waves, constrained, equal_innovations, random_intercepts)
    desc = description(
        waves, constrained=constrained, equal_innovations=equal_innovations,
        random_intercepts=random_intercepts,
    )
    model = _PatternFIML(desc)
    labels = [name for name, par in model.parameters.items() if par.active]
    wanted = {lab for *_, lab in spec if not lab.isdigit()}
    if set(labels) != wanted:  # semopy added or dropped a parameter: a programming error
        raise RuntimeError(f"unexpected semopy parameters: {sorted(set(labels) ^ wanted)}")
    return _Setup(spec, model, labels, list(model.vars["observed"]), constrained, random_intercepts)


def _fit(
    setup: _Setup,
    patterns: list[_Pattern],
    *,
    information: str,
    names: tuple[str | Message, str | Message],
    min_patients: int | None,
    n_dropped: int,
    clustered: tuple[np.ndarray, np.ndarray] | None = None,
    first_session: int = 1,
    session_step: int = 1,
) -> dict:
    """Estimate the model from missing-data patterns and assemble the result dictionary.

    With ``clustered = (cases, clusters)``, the n x p data the patterns were made of and one cluster
    code ``0 .. G-1`` per row, the result also carries cluster-robust standard errors (see
    :func:`fit_riclpm`).
    """
    if information not in ("observed", "expected"):
        raise ValueError("information must be 'observed' or 'expected'")
    model, labels, observed = setup.model, setup.labels, setup.observed
    k, p = len(labels), len(observed)
    n = sum(pat.n for pat in patterns)
    _check_patterns(patterns, observed, names, k if min_patients is None else min_patients, first_session,
                    session_step)
    # Work on data divided by one standard deviation per variable (the same at every wave, so the
    # model is unchanged): optimiser tolerances and finite-difference steps are then scale-free.
    _, mean_ac, var_ac = _pattern_moments(patterns, p)
    is_x = np.array([v.startswith("x") for v in observed])
    sd = {"x": math.sqrt(np.mean(var_ac[is_x])), "y": math.sqrt(np.mean(var_ac[~is_x]))}
    s = np.where(is_x, sd["x"], sd["y"])
    patterns = [
        _Pattern(obs=pat.obs, mis=pat.mis, n=pat.n, mean=pat.mean / s[pat.obs],
                 scatter=pat.scatter / np.outer(s[pat.obs], s[pat.obs]))
        for pat in patterns
    ]
    mean_ac, var_ac = mean_ac / s, var_ac / s**2
    unscale = np.array([_parameter_scale(lab, sd["x"], sd["y"]) for lab in labels])
    model.attach(patterns)
    # Several starting points: stop once two runs reach the same, best, local maximum.
    runs: list[tuple[float, np.ndarray, np.ndarray, float]] = []
    good: list[tuple[float, np.ndarray, np.ndarray, float]] = []
    ran_off: list[np.ndarray] = []
    same = 1e-8 * n
    runoff = (np.array([i for i, lab in enumerate(labels) if _is_covariance(lab)], dtype=int),
              RUNOFF_BOUND * float(np.max(var_ac)))
    for share, ar in START_POINTS:
        x0 = _start_values(labels, observed, mean_ac, var_ac, share, ar)
        if not math.isfinite(model.obj_fiml(x0)):
            continue
        try:
            x, fmin, grad, hess = _minimise(model, x0, n, runoff)
        except _RanOff as error:
            ran_off.append(error.args[0])
            continue
        max_grad = float(np.max(np.abs(grad))) if np.all(np.isfinite(grad)) else math.inf
        runs.append((fmin, x, hess, max_grad))
        if max_grad < GRADIENT_TOLERANCE and _is_minimum(hess):
            good = sorted([*good, runs[-1]], key=lambda run: run[0])
        if len(good) >= 2 and good[1][0] - good[0][0] < same:
            break
    if ran_off and not runs:
        raise NotEstimable(_runoff_reason(ran_off, labels, setup.random_intercepts, first_session,
                                          session_step))
    if not runs:
        raise NotEstimable(Message("the data are degenerate: no starting point gives a valid covariance "
                                   "matrix"))
    if not good:
        smallest = min(run[3] for run in runs)
        raise NotEstimable(Message(
            "the model did not converge from any of {starts} starting points (largest gradient element at "
            "best {gradient:.2g}); the data may carry too little information for this model",
            starts=len(runs) + len(ran_off), gradient=smallest), NOT_CONVERGED)
    fmin, x, hess, max_grad = good[0]
    warn: list[str] = []
    if any(run[0] - fmin >= same for run in good[1:]):
        warn.append("different starting points reached different local maxima; the highest is reported")
    observed_info = 0.5 * n * hess  # hess is that of -2 log L / n: this is the Hessian of -log L
    info = observed_info if information == "observed" else model.expected_information(x)
    eig = np.linalg.eigvalsh(info) if np.all(np.isfinite(info)) else np.array([math.nan])
    if not eig[0] > 1e-10 * max(eig[-1], 1.0):
        raise NotEstimable(Message(
            "the standard errors cannot be computed: the information matrix is singular or not "
            "positive definite, so these data do not identify the model (or the solution is a "
            "saddle point)"
        ))
    vcov = np.linalg.inv(info) * np.outer(unscale, unscale)
    se = np.sqrt(np.diag(vcov))
    idx = {lab: i for i, lab in enumerate(labels)}
    est = {lab: float(x[i] * unscale[i]) for lab, i in idx.items()}
    groups = None
    if clustered is not None:
        # The sandwich of the observed information (whatever ``information`` says: the bread must be
        # the Hessian of the log-likelihood whose scores are its meat), on the standardised scale,
        # transformed back as the model-based covariance is.
        cases, clusters = clustered
        groups = int(clusters.max()) + 1
        scores = model.casewise_scores(x, cases / s)
        vcov_cluster = _cluster_sandwich(observed_info, scores, clusters) * np.outer(unscale, unscale)
        se_cluster = np.sqrt(np.diag(vcov_cluster))

    for lab in labels:
        is_var = lab.startswith(("vk", "vw")) or (lab.startswith(("ux", "uy")) and not lab.startswith("uxy"))
        if is_var and est[lab] <= 0:
            warn.append(f"variance {lab} is estimated at {est[lab]:.4g} (not positive)")

    lagged: dict[str, dict] = {}
    for lhs, op, rhs, lab in setup.spec:
        if op == "~" and rhs != "1" and lab not in lagged:
            z, pv = _wald(est[lab], se[idx[lab]])
            lagged[lab] = {
                "effect": _LAG_KINDS[lab[0]], "wave": None if setup.constrained else int(lhs[2:]),
                "label": lab, "estimate": est[lab], "se": float(se[idx[lab]]), "z": z, "p": pv,
            }
            if groups is not None:
                robust = float(se_cluster[idx[lab]])
                lagged[lab].update(_cluster_columns(est[lab], robust, groups))
                lagged[lab]["p_cluster"] = float(2.0 * stats.t.sf(abs(est[lab] / robust), groups - 1))

    ri_r = ri_r_se = None
    ri_robust: dict[str, float | None] = {"se_cluster": None, "ci_low": None, "ci_high": None}
    if setup.random_intercepts and est["vkx"] > 0 and est["vky"] > 0:
        vx, vy, cxy = est["vkx"], est["vky"], est["ckxy"]
        ri_r = cxy / math.sqrt(vx * vy)
        jac = np.zeros(k)
        jac[idx["ckxy"]] = 1.0 / math.sqrt(vx * vy)
        jac[idx["vkx"]] = -0.5 * ri_r / vx
        jac[idx["vky"]] = -0.5 * ri_r / vy
        ri_r_se = float(math.sqrt(jac @ vcov @ jac))
        if groups is not None:
            ri_robust = correlation_interval(ri_r, float(math.sqrt(jac @ vcov_cluster @ jac)), groups)
    elif setup.random_intercepts:
        warn.append("the random-intercept correlation is undefined: an intercept variance is not positive")

    n_values = sum(pat.n * pat.obs.size for pat in patterns)
    log_jacobian = sum(pat.n * np.log(s[pat.obs]).sum() for pat in patterns)
    loglik = -0.5 * (fmin + n_values * math.log(2.0 * math.pi)) - log_jacobian
    together = np.zeros((p, p))
    for pat in patterns:
        together[np.ix_(pat.obs, pat.obs)] += pat.n
    df = p * (p + 3) // 2 - k
    base_df = p * (p - 1) // 2
    chisq = pvalue = cfi = tli = rmsea = base_chisq = None
    if np.all(together > 0):
        batches = _batches(patterns, p)
        mu_s, sig_s = _saturated_em(batches, mean_ac, var_ac, n)
        f_sat = _fiml_value(batches, mu_s, sig_s)
        base_chisq = _fiml_value(batches, mean_ac, np.diag(var_ac)) - f_sat
        chisq = max(fmin - f_sat, 0.0)
        pvalue = float(stats.chi2.sf(chisq, df)) if df > 0 else None
        denom = max(chisq - df, base_chisq - base_df, 0.0)
        cfi = 1.0 - max(chisq - df, 0.0) / denom if denom > 0 else 1.0
        if df > 0:
            tli = (base_chisq / base_df - chisq / df) / (base_chisq / base_df - 1.0)
            rmsea = math.sqrt(max(chisq - df, 0.0) / (df * n))
    else:
        warn.append("two sessions are never observed together; chi-square and fit indices are omitted")
    parameters = {lab: {"estimate": est[lab], "se": float(se[i])} for lab, i in idx.items()}
    robust_keys: dict[str, float | None] = {}
    if groups is not None:
        for lab, i in idx.items():
            parameters[lab].update(_cluster_columns(est[lab], float(se_cluster[i]), groups))
        robust_keys = {f"ri_correlation_{key}": value for key, value in ri_robust.items()}
    return {
        "lagged": list(lagged.values()),
        "ri_correlation": ri_r,
        "ri_correlation_se": ri_r_se,
        **robust_keys,
        "parameters": parameters,
        "chisq": chisq,
        "df": df,
        "pvalue": pvalue,
        "cfi": cfi,
        "tli": tli,
        "rmsea": rmsea,
        "baseline_chisq": base_chisq,
        "baseline_df": base_df,
        "loglik": loglik,
        "aic": -2.0 * loglik + 2 * k,
        "bic": -2.0 * loglik + k * math.log(n),
        "n": n,
        "n_patterns": len(patterns),
        "n_dropped": n_dropped,
        "n_parameters": k,
        "n_starts": len(runs) + len(ran_off),
        "max_gradient": max_grad,
        "information": information,
        "n_clusters": groups,
        "warnings": warn,
    }


def fit_riclpm(
    data: pd.DataFrame,
    waves: int,
    *,
    constrained: bool,
    equal_innovations: bool = False,
    random_intercepts: bool = True,
    information: str = "observed",
    names: tuple[str | Message, str | Message] = ("alliance", "symptoms"),
    min_patients: int | None = None,
    clusters: np.ndarray | None = None,
    first_session: int = 1,
    session_step: int = 1,
) -> dict:
    """Fit a RI-CLPM of two variables over ``waves`` waves by full-information maximum likelihood.

    Patients with missing sessions (e.g. who leave therapy early) contribute every value they have
    (FIML; Arbuckle, 1996), which is unbiased when the missingness is at random given the observed
    values.  Estimates, standard errors and the chi-square reproduce lavaan with
    ``missing = "ML"`` (observed information); docs/engineering-notes.md lists the reference values.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide data, one row per patient, with numeric columns ``x1..xT`` (e.g. alliance) and
        ``y1..yT`` (e.g. symptoms); NaN marks a missing session (see :func:`wide_from_long`).
        Other columns are ignored; rows without any value are dropped (as lavaan does).
    waves : int
        Number of waves ``T`` (at least 3).
    constrained : bool
        Lagged effects equal over time (True) or free per wave (False); see :func:`description`.
    equal_innovations : bool, optional
        Innovation (residual) variances and covariance equal over waves 2..T.  Default False.
    random_intercepts : bool, optional
        False fits the traditional CLPM (no random intercepts).  Default True.
    information : {"observed", "expected"}, optional
        Information matrix for the standard errors: "observed" (default; lavaan's default with
        ``missing = "ML"``) is the finite-difference Hessian of the analytic FIML gradient;
        "expected" is the Fisher information summed over missing-data patterns (lavaan's
        default for complete data).
    names : tuple of str or Message, optional
        Words for x and y in error messages (a `Message` is translated with the reason).  Default
        ``("alliance", "symptoms")``.
    min_patients : int, optional
        Least number of patients with 3 or more sessions with both variables; default: the
        number of free parameters.
    clusters : numpy.ndarray, optional
        One cluster label per row of ``data``, in its order (e.g. each patient's therapist).  When
        given, every standard error also comes cluster-robust: the sandwich
        ``V = H^-1 (sum_g s_g s_g') H^-1 G / (G - 1)`` of the observed information ``H`` (also with
        ``information="expected"``) and the sums ``s_g`` of the casewise FIML scores of the patients
        of each of the ``G`` clusters (Liang & Zeger, 1986; Cameron & Miller, 2015), with confidence
        intervals from the t distribution with ``G - 1`` degrees of freedom.  Rows without any value
        are dropped with their labels; the rows kept must all have a label.
    first_session : int, optional
        The session of wave 1 (default 1), for the reasons' words: wave ``t`` is named session
        ``first_session + (t - 1) session_step`` (see :func:`wide_from_long`).
    session_step : int, optional
        Sessions from one wave to the next (default 1), for the same words.

    Returns
    -------
    dict
        ``lagged``: list of dicts, one per lagged effect (per wave when not constrained), with
        ``effect`` ("x->x", "y->x", "y->y", "x->y"), ``wave`` (the outcome's wave, None when
        constrained), ``label``, ``estimate``, ``se``, ``z``, ``p``.
        ``ri_correlation`` and ``ri_correlation_se`` (delta method; None without random
        intercepts or with a non-positive intercept variance).
        ``parameters``: label -> {"estimate", "se"} for every free parameter (labels as in
        :func:`description`).
        ``chisq``, ``df``, ``pvalue``: likelihood-ratio test against the saturated model (fitted by
        EM); ``cfi``, ``tli``, ``rmsea`` (lavaan's formulas, RMSEA with N) and ``baseline_chisq``,
        ``baseline_df`` of the independence model; these are None when two sessions are never
        observed together.  ``loglik``, ``aic``, ``bic``, ``n`` (patients used), ``n_patterns``
        (missing-data patterns), ``n_dropped`` (rows without any value), ``n_parameters``,
        ``n_starts`` (starting points tried), ``max_gradient`` (largest absolute gradient
        element of -2 log L / n at the solution, for the data divided by one standard deviation
        per variable), ``information``, ``warnings`` (e.g. negative variance estimates, which
        lavaan also reports as a warning and does not prevent; several local maxima).
        ``n_clusters``: the number of clusters ``G`` (None without ``clusters``).
        With ``clusters``, each row of ``lagged`` and of ``parameters`` also has ``se_cluster`` and
        the 95% interval ``ci_low``, ``ci_high`` on it, each row of ``lagged`` ``p_cluster`` (two-sided,
        t with ``G - 1`` df), and the result ``ri_correlation_se_cluster``, ``ri_correlation_ci_low``
        and ``ri_correlation_ci_high`` (None when ``ri_correlation`` is).

    Raises
    ------
    NotEstimable
        When the data cannot support the model: too few patients with 3 or more sessions with both
        variables, a session variable recorded for fewer than 2 patients or without variation, no
        convergence, a singular information matrix, or fewer than ``MIN_THERAPISTS`` (10) clusters.
    ValueError, KeyError
        For invalid arguments (fewer than 3 waves, missing columns, non-numeric values, not one
        cluster label per row, a row with values but no cluster label).

    References
    ----------
    Hamaker, E. L., Kuiper, R. M., & Grasman, R. P. P. P. (2015). A critique of the cross-lagged
    panel model. *Psychological Methods*, 20(1), 102-116.

    Arbuckle, J. L. (1996). Full information estimation in the presence of incomplete data. In
    G. A. Marcoulides & R. E. Schumacker (Eds.), *Advanced structural equation modeling*.

    Savalei, V. (2010). Expected versus observed information in SEM with incomplete normal and
    nonnormal data. *Psychological Methods*, 15(4), 352-367.

    Liang, K.-Y., & Zeger, S. L. (1986). Longitudinal data analysis using generalized linear models.
    *Biometrika*, 73(1), 13-22.

    Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to cluster-robust inference.
    *Journal of Human Resources*, 50(2), 317-372.
    """
    setup = _setup(waves, constrained, equal_innovations, random_intercepts)
    cols = [f"{v}{t}" for v in ("x", "y") for t in range(1, waves + 1)]
    absent = [c for c in cols if c not in data.columns]
    if absent:
        raise KeyError(f"data lack the columns {absent}")
    frame = data[cols].apply(pd.to_numeric).astype(float)
    frame = frame.where(np.isfinite(frame))
    empty = frame.isna().all(axis=1)
    values = frame.loc[~empty, setup.observed].to_numpy()
    if values.shape[0] == 0:
        raise NotEstimable(Message("no patient has any {x} or {y} value", x=names[0], y=names[1]))
    clustered = None
    if clusters is not None:
        labels = pd.Series(np.asarray(clusters))
        if len(labels) != len(data):
            raise ValueError(f"{len(labels)} cluster labels for {len(data)} rows of data")
        codes, kept = pd.factorize(labels[~empty.to_numpy()])
        if np.any(codes < 0):
            raise ValueError("some patient with values has no cluster label")
        if len(kept) < MIN_THERAPISTS:
            raise NotEstimable(Plural("{n} therapist (fewer than {minimum}): too few clusters for "
                                      "cluster-robust standard errors",
                                      "{n} therapists (fewer than {minimum}): too few clusters for "
                                      "cluster-robust standard errors", minimum=MIN_THERAPISTS,
                                      n=len(kept)))
        clustered = (values, codes)
    return _fit(
        setup, _patterns(values), information=information, names=names,
        min_patients=min_patients, n_dropped=int(empty.sum()), clustered=clustered,
        first_session=first_session, session_step=session_step,
    )


def fit_riclpm_summary(
    means: pd.Series,
    cov: pd.DataFrame,
    n: int,
    waves: int,
    *,
    constrained: bool,
    equal_innovations: bool = False,
    random_intercepts: bool = True,
    information: str = "expected",
    ddof: int = 1,
    names: tuple[str | Message, str | Message] = ("alliance", "symptoms"),
    min_patients: int | None = None,
) -> dict:
    """Fit the RI-CLPM to complete-data summary statistics (means and covariance matrix).

    With complete data the normal likelihood depends on the data only through the sample means and
    covariance matrix, so a published table reproduces the ML fit exactly.

    Parameters
    ----------
    means : pandas.Series
        Sample means indexed ``x1..xT, y1..yT``.
    cov : pandas.DataFrame
        Sample covariance matrix with the same row and column labels.
    n : int
        Sample size.
    waves, constrained, equal_innovations, random_intercepts, names, min_patients
        As in :func:`fit_riclpm`.
    information : {"expected", "observed"}, optional
        Default "expected", lavaan's default for complete data.
    ddof : int, optional
        The covariance matrix was computed with divisor ``n - ddof``; 1 (default) for the usual
        unbiased matrix (lavaan's ``sample.cov`` convention), 0 for the ML matrix.

    Returns
    -------
    dict
        As :func:`fit_riclpm` returns it.

    Raises
    ------
    NotEstimable, ValueError, KeyError
        As in :func:`fit_riclpm`.
    """
    setup = _setup(waves, constrained, equal_innovations, random_intercepts)
    obs = setup.observed
    m = pd.Series(means).loc[obs].to_numpy(dtype=float)
    s = pd.DataFrame(cov).loc[obs, obs].to_numpy(dtype=float)
    if not np.allclose(s, s.T):
        raise ValueError("the covariance matrix is not symmetric")
    pattern = _Pattern(obs=np.arange(len(obs)), mis=np.arange(0), n=int(n), mean=m, scatter=(n - ddof) * s)
    return _fit(setup, [pattern], information=information, names=names, min_patients=min_patients,
                n_dropped=0)
