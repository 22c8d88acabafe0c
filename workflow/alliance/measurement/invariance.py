"""Multigroup confirmatory factor analysis for measurement invariance testing.

Configural, metric and scalar models are fitted by normal-theory maximum likelihood (ML,
Joreskog 1971; Sorbom 1974) with Fisher scoring, following lavaan's conventions (Rosseel 2012):
biased sample covariances (divisor N_g), T = sum_g N_g F_g, marker-variable identification
(first loading of each factor fixed to 1 in every group), intercepts free per group in the
configural and metric models, and in the scalar model shared intercepts with latent means fixed
to 0 in the first group and free in the others.  Robust ML (MLR) adds Huber-White sandwich
standard errors (observed-information bread) and the Yuan-Bentler (2000) scaled statistic in
lavaan's "Mplus variant" (``lav_test_yuan_bentler_mplus_trace``), the robust CFI/TLI of
Brosseau-Liard & Savalei (2014) and the robust RMSEA of Brosseau-Liard, Savalei & Li (2012).
Nested models are compared with the chi-square difference test (ML) or the Satorra-Bentler
(2001) scaled difference (MLR) and with the change-in-fit rule of Chen (2007), as recommended in
the review of Putnick & Bornstein (2016).

References
----------
Brosseau-Liard, P. E., & Savalei, V. (2014). Adjusting incremental fit indices for nonnormality.
    Multivariate Behavioral Research, 49, 460-470.
Brosseau-Liard, P. E., Savalei, V., & Li, L. (2012). An investigation of the sample performance
    of two nonnormality corrections for RMSEA. Multivariate Behavioral Research, 47, 904-930.
Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of measurement invariance.
    Structural Equation Modeling, 14, 464-504.
Joreskog, K. G. (1971). Simultaneous factor analysis in several populations. Psychometrika, 36,
    409-426.
Mardia, K. V. (1970). Measures of multivariate skewness and kurtosis with applications.
    Biometrika, 57, 519-530.
Putnick, D. L., & Bornstein, M. H. (2016). Measurement invariance conventions and reporting: the
    state of the art and future directions for psychological research. Developmental Review, 41,
    71-90.
Rosseel, Y. (2012). lavaan: an R package for structural equation modeling. Journal of
    Statistical Software, 48(2), 1-36.
Satorra, A., & Bentler, P. M. (2001). A scaled difference chi-square test statistic for moment
    structure analysis. Psychometrika, 66, 507-514.
Sorbom, D. (1974). A general method for studying differences in factor means and factor
    structure between groups. British Journal of Mathematical and Statistical Psychology, 27,
    229-239.
Steiger, J. H. (1998). A note on multiple sample extensions of the RMSEA fit index. Structural
    Equation Modeling, 5, 411-419.
Yuan, K.-H., & Bentler, P. M. (2000). Three likelihood-based methods for mean and covariance
    structure analysis with nonnormal missing data. Sociological Methodology, 30, 165-200.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from alliance.errors import FITTED, NOT_CONVERGED, NotEstimable
from alliance.i18n import Message, Plural, Term, message_text
from alliance.instruments import BORDIN as DIMENSIONS
from alliance.instruments import Instrument, name_in_words
from alliance.measurement.psychometrics import keyed_items

LEVELS = ("configural", "metric", "scalar")
# The invariance levels in the words of a reason: "the metric model did not converge".
LEVEL_TERMS = {"configural": Term("invariance", "configural"), "metric": Term("invariance", "metric"),
               "scalar": Term("invariance", "scalar")}
ESTIMATORS = ("ML", "MLR")
CHEN_MIN_DELTA_CFI = -0.010  # invariance retained when delta CFI >= this ...
CHEN_MAX_DELTA_RMSEA = 0.015  # ... and delta RMSEA <= this (Chen 2007)
MIN_GROUP_SIZE = 30
GROUP_TERMS = {"discipline": Term("grouping", "disciplines"), "site": Term("grouping", "sites")}


def _duplication(p: int) -> np.ndarray:
    """Duplication matrix D with vec(A) = D vech(A) for symmetric A (vech order: np.tril_indices)."""
    rows, cols = np.tril_indices(p)
    dup = np.zeros((p * p, rows.size))
    for t, (r, c) in enumerate(zip(rows, cols, strict=True)):
        dup[r * p + c, t] = 1.0
        dup[c * p + r, t] = 1.0
    return dup


def _check_group(name: object, x: np.ndarray, items: list[str], min_size: int) -> None:
    n, p = x.shape
    if n < max(min_size, p + 1):
        raise NotEstimable(Message("group {group} has only {n} complete cases; at least {minimum} are needed "
                                   "for {items} items", group=name, n=n, minimum=max(min_size, p + 1),
                                   items=p))
    for j, item in enumerate(items):
        if np.ptp(x[:, j]) == 0:
            raise NotEstimable(Message("item {item} has no variance in group {group}", item=item, group=name))
    cov = np.cov(x, rowvar=False, bias=True)
    sd = np.sqrt(np.diag(cov))
    evals, evecs = np.linalg.eigh(cov / np.outer(sd, sd))
    if evals[0] < 1e-8:
        involved = [items[j] for j in np.flatnonzero(np.abs(evecs[:, 0]) > 0.1)]
        raise NotEstimable(Message("the sample covariance matrix in group {group} is singular: items {items} "
                                   "are linearly dependent", group=name, items=involved))


class _Model:
    """Parameter bookkeeping and likelihood derivatives for one multigroup CFA.

    Per group the model elements are (Lambda row-major, nu, diag Theta, vech Phi, alpha), giving
    mu = nu + Lambda alpha and Sigma = Lambda Phi Lambda' + Theta.  Each free element maps to one
    parameter; a parameter shared across groups (equality constraint) is mapped from every group.
    Log-likelihood of group g: -N_g/2 [p log 2pi + log|Sigma| + tr(Sigma^-1 (S + d d'))], d = xbar - mu.
    """

    def __init__(self, xs: list[np.ndarray], names: list, factors: dict[str, list[str]], level: str):
        self.items = [it for its in factors.values() for it in its]
        self.factors = list(factors)
        self.names, self.level = names, level
        p, m = len(self.items), len(self.factors)
        self.p, self.m, self.ng = p, m, len(xs)
        self.x = xs
        self.n = np.array([x.shape[0] for x in xs], dtype=float)
        self.xbar = [x.mean(axis=0) for x in xs]
        self.s = [np.cov(x, rowvar=False, bias=True) for x in xs]
        self.vr, self.vc = np.tril_indices(p)
        self.fr, self.fc = np.tril_indices(m)
        self.dup = _duplication(p)
        self.offdiag = np.where(self.vr == self.vc, 1.0, 2.0)
        self.o_nu, self.o_th = p * m, p * m + p
        self.o_phi = p * m + 2 * p
        self.o_al = self.o_phi + self.fr.size
        self.n_elem = self.o_al + m
        pattern = np.zeros((p, m), dtype=bool)
        marker = np.zeros((p, m), dtype=bool)
        for k, its in enumerate(factors.values()):
            for i, it in enumerate(its):
                pattern[self.items.index(it), k] = True
                marker[self.items.index(it), k] = i == 0
        self.pattern = pattern
        keys: dict[tuple, int] = {}
        self.labels: list[tuple] = []
        self.elem_idx, self.fixed = [], []
        for g in range(self.ng):
            idx, fix = np.full(self.n_elem, -1), np.zeros(self.n_elem)
            for i in range(p):
                for k in range(m):
                    fix[i * m + k] = 1.0 if marker[i, k] else 0.0
                    if pattern[i, k] and not marker[i, k]:
                        idx[i * m + k] = self._key(keys, ("=~", self.factors[k], self.items[i]),
                                                   g, level in ("metric", "scalar"))
                idx[self.o_nu + i] = self._key(keys, ("~1", self.items[i], ""), g, level == "scalar")
                idx[self.o_th + i] = self._key(keys, ("~~", self.items[i], self.items[i]), g, False)
            for t, (a, b) in enumerate(zip(self.fr, self.fc, strict=True)):
                lab = ("~~", self.factors[b], self.factors[a])
                idx[self.o_phi + t] = self._key(keys, lab, g, False)
            for k in range(m):
                if level == "scalar" and g > 0:
                    idx[self.o_al + k] = self._key(keys, ("~1", self.factors[k], ""), g, False)
            self.elem_idx.append(idx)
            self.fixed.append(fix)
        self.q = len(keys)
        self.df = self.ng * (p + p * (p + 1) // 2) - self.q

    def _key(self, keys: dict, lab: tuple, g: int, shared: bool) -> int:
        key = (*lab, None if shared else g)
        if key not in keys:
            keys[key] = len(keys)
            self.labels.append(key)
        return keys[key]

    def elements(self, theta: np.ndarray, g: int) -> np.ndarray:
        idx = self.elem_idx[g]
        e = self.fixed[g].copy()
        e[idx >= 0] = theta[idx[idx >= 0]]
        return e

    def unpack(self, e: np.ndarray) -> tuple[np.ndarray, ...]:
        p, m = self.p, self.m
        lam = e[: p * m].reshape(p, m)
        phi = np.zeros((m, m))
        phi[self.fr, self.fc] = e[self.o_phi: self.o_al]
        phi = phi + np.tril(phi, -1).T
        return lam, e[self.o_nu: self.o_th], e[self.o_th: self.o_phi], phi, e[self.o_al:]

    def implied(self, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lam, nu, th, phi, al = self.unpack(e)
        return nu + lam @ al, lam @ phi @ lam.T + np.diag(th)

    def delta(self, e: np.ndarray, g: int) -> np.ndarray:
        """Jacobian of (mu, vech Sigma) with respect to the free parameters in group g."""
        p, m = self.p, self.m
        lam, _, _, phi, al = self.unpack(e)
        vr, vc = self.vr, self.vc
        jac = np.zeros((p + vr.size, self.n_elem))
        eye = np.eye(p)
        lp = lam @ phi
        jac[:p, : p * m] = (eye[:, :, None] * al[None, None, :]).reshape(p, p * m)
        d_lam = eye[vr][:, :, None] * lp[vc][:, None, :] + lp[vr][:, None, :] * eye[vc][:, :, None]
        jac[p:, : p * m] = d_lam.reshape(vr.size, p * m)
        jac[:p, self.o_nu: self.o_th] = eye
        jac[p:, self.o_th: self.o_phi] = ((vr == vc)[:, None] & (vr[:, None] == np.arange(p)))
        lr, lc = lam[vr], lam[vc]
        a, b = self.fr, self.fc
        jac[p:, self.o_phi: self.o_al] = lr[:, a] * lc[:, b] + (a != b) * lr[:, b] * lc[:, a]
        jac[:p, self.o_al:] = lam
        idx = self.elem_idx[g]
        out = np.zeros((jac.shape[0], self.q))
        out[:, idx[idx >= 0]] = jac[:, idx >= 0]
        return out

    def _inverse(self, sigma: np.ndarray) -> np.ndarray | None:
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return None
        ci = np.linalg.inv(chol)
        return ci.T @ ci

    def loglik(self, theta: np.ndarray) -> float:
        total = 0.0
        for g in range(self.ng):
            mu, sigma = self.implied(self.elements(theta, g))
            k = self._inverse(sigma)
            if k is None:
                return -np.inf
            d = self.xbar[g] - mu
            c = self.s[g] + np.outer(d, d)
            logdet = np.linalg.slogdet(sigma)[1]
            total += -0.5 * self.n[g] * (self.p * np.log(2 * np.pi) + logdet + np.sum(k * c))
        return total

    def _moment_terms(self, theta: np.ndarray, g: int) -> tuple[np.ndarray, ...]:
        e = self.elements(theta, g)
        mu, sigma = self.implied(e)
        k = self._inverse(sigma)
        if k is None:
            raise NotEstimable(Message("the model-implied covariance matrix in group {group} is not positive "
                                       "definite", group=self.names[g]))
        d = self.xbar[g] - mu
        c = self.s[g] + np.outer(d, d)
        return e, mu, sigma, k, d, c

    def gradient_and_information(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient of the log-likelihood and expected (Fisher) information, summed over groups."""
        grad, info = np.zeros(self.q), np.zeros((self.q, self.q))
        for g in range(self.ng):
            e, _, _, k, d, c = self._moment_terms(theta, g)
            dl = self.delta(e, g)
            n = self.n[g]
            gm = np.concatenate([n * k @ d, (0.5 * n * (k @ c @ k - k))[self.vr, self.vc] * self.offdiag])
            w = np.zeros((dl.shape[0], dl.shape[0]))
            w[: self.p, : self.p] = n * k
            w[self.p:, self.p:] = 0.5 * n * self.dup.T @ np.kron(k, k) @ self.dup
            grad += dl.T @ gm
            info += dl.T @ w @ dl
        return grad, info

    def observed_information(self, theta: np.ndarray) -> np.ndarray:
        """Minus the analytic Hessian of the log-likelihood (observed information)."""
        p, m = self.p, self.m
        out = np.zeros((self.q, self.q))
        for g in range(self.ng):
            e, _, _, k, d, c = self._moment_terms(theta, g)
            n, dl, dup = self.n[g], self.delta(e, g), self.dup
            v, kck = k @ d, k @ c @ k
            hmm = np.zeros((dl.shape[0], dl.shape[0]))
            hmm[:p, :p] = -n * k
            hmm[:p, p:] = -n * np.kron(v[None, :], k) @ dup
            hmm[p:, :p] = hmm[:p, p:].T
            hmm[p:, p:] = 0.5 * n * dup.T @ (np.kron(k, k) - 2.0 * np.kron(kck, k)) @ dup
            hess = dl.T @ hmm @ dl
            # second derivatives of the moments, weighted by the moment gradient
            gs, gmu = 0.5 * n * (kck - k), n * v
            lam, _, _, phi, _ = self.unpack(e)
            h = np.zeros((self.n_elem, self.n_elem))
            h[: p * m, : p * m] = (2.0 * gs[:, None, :, None] * phi[None, :, None, :]).reshape(p * m, p * m)
            gl = gs @ lam
            for t, (a, b) in enumerate(zip(self.fr, self.fc, strict=True)):
                blk = np.zeros((p, m))
                blk[:, b] += 2.0 * gl[:, a]
                if a != b:
                    blk[:, a] += 2.0 * gl[:, b]
                h[: p * m, self.o_phi + t] = blk.ravel()
            for a in range(m):
                blk = np.zeros((p, m))
                blk[:, a] = gmu
                h[: p * m, self.o_al + a] = blk.ravel()
            h = np.triu(h) + np.triu(h, 1).T
            idx = self.elem_idx[g]
            free = np.flatnonzero(idx >= 0)
            hess[np.ix_(idx[free], idx[free])] += h[np.ix_(free, free)]
            out -= hess
        return out

    def case_scores(self, theta: np.ndarray) -> list[np.ndarray]:
        """Casewise scores (N_g x q) of the log-likelihood, one array per group."""
        out = []
        for g in range(self.ng):
            e, mu, _, k, _, _ = self._moment_terms(theta, g)
            r = (self.x[g] - mu) @ k
            s_sig = 0.5 * (r[:, self.vr] * r[:, self.vc] - k[self.vr, self.vc]) * self.offdiag
            out.append(np.hstack([r, s_sig]) @ self.delta(e, g))
        return out

    def start(self) -> np.ndarray:
        vals = np.zeros(self.q)
        wts = np.zeros(self.q)
        for g in range(self.ng):
            s, xb = self.s[g], self.xbar[g]
            # half of each marker's variance is common: Phi = S[markers, markers] / 2,
            # lambda_i = s(i, marker) / phi_kk, theta_i = s_ii / 2
            markers = [int(np.flatnonzero(self.pattern[:, k])[0]) for k in range(self.m)]
            phi = 0.5 * s[np.ix_(markers, markers)]
            lam = np.where(self.pattern, s[:, markers] / np.diag(phi), 0.0)
            e = np.zeros(self.n_elem)
            e[: self.p * self.m] = lam.ravel()
            e[self.o_nu: self.o_th] = self.xbar[0] if self.level == "scalar" else xb
            e[self.o_th: self.o_phi] = 0.5 * np.diag(s)
            e[self.o_phi: self.o_al] = phi[self.fr, self.fc]
            e[self.o_al:] = xb[markers] - self.xbar[0][markers]
            idx = self.elem_idx[g]
            np.add.at(vals, idx[idx >= 0], self.n[g] * e[idx >= 0])
            np.add.at(wts, idx[idx >= 0], self.n[g])
        return vals / wts


def _prepare(data: pd.DataFrame, group: str, factors: dict[str, list[str]], groups: list | None,
             min_group_size: int) -> tuple[list[np.ndarray], list, int]:
    items = [it for its in factors.values() for it in its]
    if len(set(items)) != len(items):
        raise ValueError("each item must load on exactly one factor")
    if any(len(its) < 2 for its in factors.values()):
        raise ValueError("each factor needs at least two items")
    missing = [c for c in [group, *items] if c not in data.columns]
    if missing:
        raise ValueError(f"columns not in data: {missing}")
    sub = data[[group, *items]].dropna()
    names = list(pd.unique(sub[group])) if groups is None else list(groups)
    if not names:
        raise NotEstimable(Message("no complete cases with a group in column {column}", column=group))
    xs = []
    for name in names:
        x = sub.loc[sub[group] == name, items].to_numpy(dtype=float)
        _check_group(name, x, items, min_group_size)
        xs.append(x)
    return xs, names, len(data) - len(sub)


def _fisher_scoring(model: _Model, max_iter: int, tol: float) -> tuple[np.ndarray, float, int]:
    theta = model.start()
    ll = model.loglik(theta)
    for it in range(1, max_iter + 1):
        grad, info = model.gradient_and_information(theta)
        step = np.linalg.lstsq(info, grad, rcond=None)[0]
        if grad @ step < tol:
            return theta, ll, it
        t = 1.0
        while True:
            new = theta + t * step
            ll_new = model.loglik(new)
            if np.isfinite(ll_new) and ll_new >= ll - 1e-10 * abs(ll):
                break
            t *= 0.5
            if t < 1e-8:
                raise NotEstimable(Message("the {level} model did not converge (no improving step after "
                                           "{iterations} iterations)", level=LEVEL_TERMS[model.level],
                                           iterations=it), NOT_CONVERGED)
        theta, ll = new, ll_new
    raise NotEstimable(Message("the {level} model did not converge in {iterations} iterations",
                               level=LEVEL_TERMS[model.level], iterations=max_iter), NOT_CONVERGED)


def _check_solution(model: _Model, theta: np.ndarray, info: np.ndarray) -> None:
    for g in range(model.ng):
        _, _, th, phi, _ = model.unpack(model.elements(theta, g))
        bad = np.flatnonzero(th < 0)
        if bad.size:
            i = bad[0]
            raise NotEstimable(Message("item {item} has a negative residual variance ({variance:.3f}) in "
                                       "group {group} (Heywood case)", item=model.items[i], variance=th[i],
                                       group=model.names[g]))
        if np.linalg.eigvalsh(phi)[0] <= 0:
            raise NotEstimable(Message("the factor covariance matrix in group {group} is not positive "
                                       "definite (a factor correlation is at or beyond 1)",
                                       group=model.names[g]))
    _check_identified(model, info)


def _check_identified(model: _Model, info: np.ndarray) -> None:
    evals, evecs = np.linalg.eigh(info)
    if evals[0] <= 1e-10 * evals[-1]:
        lab = model.labels[int(np.argmax(np.abs(evecs[:, 0])))]
        where = (Message("all groups") if lab[3] is None
                 else Message("group {group}", group=model.names[lab[3]]))
        parameter = " ".join(str(part) for part in (lab[1], lab[0], lab[2]))
        raise NotEstimable(Message("the {level} model is not identified with these data: parameter "
                                   "{parameter} in {where} cannot be estimated",
                                   level=LEVEL_TERMS[model.level], parameter=parameter,
                                   where=where))


def _baseline(model: _Model) -> tuple[float, int, float]:
    """Independence model (free means and variances per group): chi-square, df, YB-Mplus scaling.

    At its ML estimate the observed information is diagonal, so the Mplus-variant trace reduces to
    c_B = sum_g (b2p_g - sum_j kurt_gj) / (G p (p - 1)), kurt_gj = m4_gj / s_gjj^2 (1 under normality).
    """
    chisq, trace = 0.0, 0.0
    for g in range(model.ng):
        s, n = model.s[g], model.n[g]
        chisq += n * (np.sum(np.log(np.diag(s))) - np.linalg.slogdet(s)[1])
        r = model.x[g] - model.xbar[g]
        kurt_multi = np.mean(np.einsum("ij,jk,ik->i", r, np.linalg.inv(s), r) ** 2)
        kurt_uni = np.mean(r**4, axis=0) / np.diag(s) ** 2
        trace += 0.5 * (kurt_multi - kurt_uni.sum())
    df = model.ng * model.p * (model.p - 1) // 2
    return chisq, df, trace / df


def _h1_trace(model: _Model) -> float:
    """sum_g tr(A1_g Gamma_g) = sum_g [p + (b2p_g - p) / 2], b2p = Mardia's kurtosis (N divisor)."""
    out = 0.0
    for g in range(model.ng):
        r = model.x[g] - model.xbar[g]
        b2p = np.mean(np.einsum("ij,jk,ik->i", r, np.linalg.inv(model.s[g]), r) ** 2)
        out += model.p + 0.5 * (b2p - model.p)
    return out


def _rmsea(chisq: float, df: float, n: float, ngroups: int, c: float = 1.0) -> float:
    """lavaan's RMSEA: sqrt(max(T / (N df) - c / N, 0)) * sqrt(G) (Steiger 1998), c = 1 unless robust."""
    if df <= 0:
        return 0.0
    return float(np.sqrt(max(chisq / (n * df) - c / n, 0.0)) * np.sqrt(ngroups))


def _cfi_tli(chisq: float, df: int, base: float, base_df: int, c: float = 1.0,
             c_base: float = 1.0) -> tuple[float, float]:
    """CFI and TLI; with scaling factors c, c_base the robust versions (Brosseau-Liard & Savalei 2014)."""
    t1, t0 = chisq - c * df, base - c_base * base_df
    denom = max(t1, t0, 0.0)
    cfi = 1.0 if denom == 0 else 1.0 - max(t1, 0.0) / denom
    tli = 1.0 - (t1 * base_df) / (t0 * df) if df > 0 and t0 != 0 else 1.0
    return float(cfi), float(tli)


def fit_multigroup(data: pd.DataFrame, group: str, factors: dict[str, list[str]], level: str,
                   estimator: str = "ML", groups: list | None = None,
                   min_group_size: int = MIN_GROUP_SIZE, max_iter: int = 500,
                   tol: float = 1e-10) -> dict:
    """Fit a multigroup CFA at one invariance level by ML or MLR.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per person; rows with a missing item or group are dropped (listwise, as lavaan).
    group : str
        Column with the group labels.
    factors : dict of str to list of str
        Factor name -> item columns; the first item of each factor is the marker (loading 1).
    level : {"configural", "metric", "scalar"}
        Configural: all parameters free per group.  Metric: loadings equal across groups.
        Scalar: loadings and intercepts equal, latent means free except in the first group.
    estimator : {"ML", "MLR"}
        ML: expected-information standard errors.  MLR: sandwich standard errors with the
        observed information as bread, and the Yuan-Bentler (Mplus variant) scaled test.
    groups : list, optional
        Group order (the first is the reference group); default is order of appearance.
    min_group_size : int
        Smallest group accepted (complete cases).
    max_iter, tol : int, float
        Fisher scoring limits; converged when g' I^{-1} g < tol.

    Returns
    -------
    dict
        ``estimates`` (DataFrame: group, op, lhs, rhs, est, se, z, pvalue, free, equal), ``chisq``,
        ``df``, ``pvalue``, ``chisq_groups``, ``cfi``, ``tli``, ``rmsea`` (times sqrt(G), as
        lavaan), ``baseline_chisq``, ``baseline_df``, ``loglik``, ``aic``, ``bic``, ``npar``,
        ``iterations``, ``converged``, ``n``, ``groups``; for MLR also ``scaling_factor``,
        ``chisq_scaled``, ``pvalue_scaled``, ``baseline_scaling_factor``, ``cfi_robust``,
        ``tli_robust``, ``rmsea_robust``, ``cfi_scaled``, ``tli_scaled``, ``rmsea_scaled``.

    Raises
    ------
    NotEstimable
        Constant item or too small group, singular sample covariance, non-convergence,
        Heywood case, non-identified model.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}")
    xs, names, dropped = _prepare(data, group, factors, groups, min_group_size)
    model = _Model(xs, names, factors, level)
    theta, ll, iterations = _fisher_scoring(model, max_iter, tol)
    _, info = model.gradient_and_information(theta)
    _check_solution(model, theta, info)
    ntot, ng = float(model.n.sum()), model.ng
    sat = [-0.5 * n * (model.p * np.log(2 * np.pi) + np.linalg.slogdet(s)[1] + model.p)
           for n, s in zip(model.n, model.s, strict=True)]
    chisq_groups = []
    for g in range(ng):
        mu, sigma = model.implied(model.elements(theta, g))
        d = model.xbar[g] - mu
        k = np.linalg.inv(sigma)
        f = (np.linalg.slogdet(sigma)[1] + np.sum(k * model.s[g]) + d @ k @ d
             - np.linalg.slogdet(model.s[g])[1] - model.p)
        chisq_groups.append(float(model.n[g] * f))
    chisq, df = float(sum(chisq_groups)), model.df
    base, base_df, c_base = _baseline(model)
    cfi, tli = _cfi_tli(chisq, df, base, base_df)
    out = {
        "level": level, "estimator": estimator, "groups": names, "items": model.items,
        "factors": {f: list(v) for f, v in factors.items()},
        "n": dict(zip(names, model.n.astype(int).tolist(), strict=True)), "n_dropped": dropped,
        "chisq": chisq, "df": df, "pvalue": float(stats.chi2.sf(chisq, df)),
        "chisq_groups": dict(zip(names, chisq_groups, strict=True)),
        "cfi": cfi, "tli": tli, "rmsea": _rmsea(chisq, df, ntot, ng),
        "baseline_chisq": float(base), "baseline_df": base_df,
        "loglik": float(ll), "loglik_h1": float(sum(sat)), "npar": model.q,
        "aic": float(-2 * ll + 2 * model.q), "bic": float(-2 * ll + model.q * np.log(ntot)),
        "iterations": iterations, "converged": True,
    }
    if estimator == "ML":
        vcov = np.linalg.inv(info)
    else:
        hinv = np.linalg.inv(model.observed_information(theta))
        meat = sum(sc.T @ sc for sc in model.case_scores(theta))
        vcov = hinv @ meat @ hinv
        # Yuan-Bentler, Mplus variant: c = [sum_g tr(A1_g Gamma_g) - tr(B0 E^{-1})] / df
        c = (_h1_trace(model) - np.sum(meat * hinv)) / df if df > 0 else np.nan
        t_scaled = chisq / c
        out.update({
            "scaling_factor": float(c), "chisq_scaled": float(t_scaled),
            "pvalue_scaled": float(stats.chi2.sf(t_scaled, df)), "baseline_scaling_factor": float(c_base),
            "baseline_chisq_scaled": float(base / c_base), "rmsea_robust": _rmsea(chisq, df, ntot, ng, c),
            "rmsea_scaled": _rmsea(chisq, c * df, ntot, ng),
        })
        out["cfi_scaled"], out["tli_scaled"] = _cfi_tli(t_scaled, df, base / c_base, base_df)
        out["cfi_robust"], out["tli_robust"] = _cfi_tli(chisq, df, base, base_df, c, c_base)
    out["estimates"] = _estimates_table(model, theta, np.sqrt(np.diag(vcov)))
    out["vcov"] = vcov
    return out


def _estimates_table(model: _Model, theta: np.ndarray, se: np.ndarray) -> pd.DataFrame:
    rows = []
    kinds = [("=~", i, k) for i in range(model.p) for k in range(model.m)]
    for g in range(model.ng):
        e, idx = model.elements(theta, g), model.elem_idx[g]
        for j, (op, i, k) in enumerate(kinds):
            if model.pattern[i, k]:
                rows.append((g, op, model.factors[k], model.items[i], e[j], idx[j]))
        for i in range(model.p):
            rows.append((g, "~1", model.items[i], "", e[model.o_nu + i], idx[model.o_nu + i]))
        for i in range(model.p):
            rows.append((g, "~~", model.items[i], model.items[i], e[model.o_th + i], idx[model.o_th + i]))
        for t, (a, b) in enumerate(zip(model.fr, model.fc, strict=True)):
            rows.append((g, "~~", model.factors[b], model.factors[a], e[model.o_phi + t],
                         idx[model.o_phi + t]))
        for k in range(model.m):
            rows.append((g, "~1", model.factors[k], "", e[model.o_al + k], idx[model.o_al + k]))
    tab = pd.DataFrame(rows, columns=["g", "op", "lhs", "rhs", "est", "param"])
    tab.insert(0, "group", [model.names[g] for g in tab["g"]])
    free = tab["param"].to_numpy() >= 0
    tab["se"] = np.where(free, se[np.maximum(tab["param"].to_numpy(), 0)], np.nan)
    tab["z"] = tab["est"] / tab["se"]
    tab["pvalue"] = 2 * stats.norm.sf(np.abs(tab["z"]))
    tab["free"] = free
    tab["equal"] = [lab >= 0 and model.labels[lab][3] is None for lab in tab["param"]]
    return tab.drop(columns=["g"])


def compare(less_constrained: dict, more_constrained: dict) -> dict:
    """Compare nested invariance models: difference test and Chen's (2007) change-in-fit rule.

    ML: chi-square difference test.  MLR: Satorra-Bentler (2001) scaled difference,
    cd = (df0 c0 - df1 c1) / (df0 - df1), T = (T0 - T1) / cd, with 0 the more constrained model
    (lavaan's ``method = "satorra.bentler.2001"``); the unscaled difference is also reported.
    The changes in fit use CFI and RMSEA for ML and their robust versions for MLR.

    Verdict (exact rule): invariance at the more constrained level is retained when
    delta CFI >= -0.010 and delta RMSEA <= 0.015 (delta = more minus less constrained), and
    rejected when either bound is exceeded.  The difference test is reported but does not enter
    the verdict.

    Parameters
    ----------
    less_constrained, more_constrained : dict
        Results of :func:`fit_multigroup` on the same data and estimator.

    Returns
    -------
    dict
        ``delta_chisq``, ``delta_df``, ``pvalue`` (scaled for MLR), ``delta_chisq_unscaled``,
        ``scaling_factor_diff`` (MLR), ``delta_cfi``, ``delta_rmsea``, ``retained``, ``rule``.
    """
    m1, m0 = less_constrained, more_constrained
    if m1["estimator"] != m0["estimator"] or m1["n"] != m0["n"] or m1["items"] != m0["items"]:
        raise ValueError("models must be fitted to the same data with the same estimator")
    ddf = m0["df"] - m1["df"]
    if ddf <= 0:
        raise ValueError("more_constrained must have more degrees of freedom than less_constrained")
    dchi = m0["chisq"] - m1["chisq"]
    robust = m0["estimator"] == "MLR"
    out = {"models": f"{m1['level']} vs {m0['level']}", "delta_df": ddf, "delta_chisq_unscaled": dchi}
    if robust:
        cd = (m0["df"] * m0["scaling_factor"] - m1["df"] * m1["scaling_factor"]) / ddf
        out["scaling_factor_diff"] = cd
        out["delta_chisq"] = dchi / cd if cd > 0 else np.nan
        cfi, rmsea = "cfi_robust", "rmsea_robust"
    else:
        out["delta_chisq"] = dchi
        cfi, rmsea = "cfi", "rmsea"
    out["pvalue"] = float(stats.chi2.sf(out["delta_chisq"], ddf))
    out["delta_cfi"] = m0[cfi] - m1[cfi]
    out["delta_rmsea"] = m0[rmsea] - m1[rmsea]
    eps = 1e-12  # a delta exactly on a bound counts as within it despite floating-point error
    out["retained"] = bool(out["delta_cfi"] >= CHEN_MIN_DELTA_CFI - eps
                           and out["delta_rmsea"] <= CHEN_MAX_DELTA_RMSEA + eps)
    out["rule"] = (f"Chen (2007): retained if delta {cfi} >= {CHEN_MIN_DELTA_CFI} and delta {rmsea} <= "
                   f"{CHEN_MAX_DELTA_RMSEA}; the difference test is reported, not used")
    return out


def invariance_levels(data: pd.DataFrame, group: str, factors: dict[str, list[str]],
                      estimator: str = "ML", **kwargs) -> dict:
    """Run configural -> metric -> scalar and return the highest level that holds.

    Each step is judged against the previous one with :func:`compare` (Chen 2007; see there for the
    exact rule).  All three models are always fitted and reported; the highest level is the last
    one reached without a rejection ("configural" if metric invariance is rejected).

    Parameters
    ----------
    data, group, factors, estimator
        As in :func:`fit_multigroup`.
    **kwargs
        Passed to :func:`fit_multigroup` (``groups``, ``min_group_size``, ...).

    Returns
    -------
    dict
        ``highest_level``, ``table`` (DataFrame, one row per level), ``fits`` and ``comparisons``.
    """
    fits = {lev: fit_multigroup(data, group, factors, lev, estimator, **kwargs) for lev in LEVELS}
    comps = [compare(fits["configural"], fits["metric"]), compare(fits["metric"], fits["scalar"])]
    highest = "configural"
    for lev, comp in zip(LEVELS[1:], comps, strict=True):
        if not comp["retained"]:
            break
        highest = lev
    suffix = "_robust" if estimator == "MLR" else ""
    rows = []
    for lev, comp in zip(LEVELS, [{}, *comps], strict=True):
        f = fits[lev]
        row = {"level": lev, "chisq": f["chisq"], "df": f["df"], "pvalue": f["pvalue"],
               "cfi": f["cfi" + suffix], "rmsea": f["rmsea" + suffix]}
        if estimator == "MLR":
            row.update(chisq_scaled=f["chisq_scaled"], scaling_factor=f["scaling_factor"])
        row.update(delta_chisq=comp.get("delta_chisq", np.nan), delta_df=comp.get("delta_df", np.nan),
                   pvalue_diff=comp.get("pvalue", np.nan), delta_cfi=comp.get("delta_cfi", np.nan),
                   delta_rmsea=comp.get("delta_rmsea", np.nan), retained=comp.get("retained"))
        rows.append(row)
    return {"highest_level": highest, "table": pd.DataFrame(rows), "fits": fits, "comparisons": comps}


def group_answers(first: pd.DataFrame, patients: pd.DataFrame, instrument: Instrument,
                  group: str = "discipline") -> pd.DataFrame:
    """The keyed answers to the instrument's bond, goal and task items of each patient's first scored
    questionnaire (`first`, `alliance.measurement.tables.first_questionnaires`: one occasion a patient, so
    that rows are independent within patients), with `patient_id` and the patient's `group`."""
    keyed = keyed_items(first, instrument)
    columns = [instrument.item_column(i) for d in DIMENSIONS for i in instrument.dimensions[d]]
    answers = keyed[columns].assign(patient_id=first["patient_id"].to_numpy())
    return answers.merge(patients[["patient_id", group]], on="patient_id", how="left")


def group_invariance(answers: pd.DataFrame, instrument: Instrument, group: str = "discipline", *,
                     min_group_size: int = MIN_GROUP_SIZE, estimator: str = "MLR") -> dict:
    """`invariance_levels` of the instrument's bond/goal/task structure across the groups of `answers`
    (`group_answers`) with at least `min_group_size` complete rows, the largest group first (the
    reference). Returns its result with `groups` (name -> n) and `left_out` (the smaller groups, named
    without their size). Raises NotEstimable when fewer than two groups are large enough."""
    factors = {d: [instrument.item_column(i) for i in instrument.dimensions[d]] for d in DIMENSIONS}
    items = [c for columns in factors.values() for c in columns]
    if answers.empty:
        raise NotEstimable(Message("no patient answered the questionnaire item by item (a pre-scored score "
                                   "has no items): invariance is tested on the item answers"))
    complete = answers.dropna(subset=[group, *items])
    sizes = complete[group].value_counts()
    kept = sorted(sizes[sizes >= min_group_size].index, key=lambda g: (-sizes[g], str(g)))
    left_out = sorted(str(g) for g in sizes.index if sizes[g] < min_group_size)
    if len(kept) < 2:
        raise NotEstimable(Plural("{n} group of {groups} with at least {size} patients with every item "
                                  "answered: invariance compares two or more",
                                  "{n} groups of {groups} with at least {size} patients with every item "
                                  "answered: invariance compares two or more",
                                  n=len(kept), groups=GROUP_TERMS.get(group, group), size=min_group_size))
    result = invariance_levels(complete[complete[group].isin(kept)], group, factors, estimator,
                               groups=kept, min_group_size=min_group_size)
    return result | {"groups": {str(g): int(sizes[g]) for g in kept}, "left_out": left_out}


INVARIANCE_COLUMNS = ["grouping", "level", "n", "n_groups", "groups", "left_out", "chisq", "df",
                      "chisq_scaled", "scaling_factor", "cfi", "rmsea", "delta_chisq", "delta_df",
                      "pvalue_diff", "delta_cfi", "delta_rmsea", "retained", "highest_level", "status",
                      "reason", "reason_message"]


PARAMETER_COLUMNS = ["grouping", "group", "factor", "item", "loading", "intercept"]


def invariance_tables(first: pd.DataFrame, patients: pd.DataFrame, instrument: Instrument,
                      groupings: list[str], *, min_group_size: int = MIN_GROUP_SIZE
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`results/psychometrics/invariance.csv` and `invariance_parameters.csv`.

    The first: per grouping (discipline; site where configured), the configural, metric and scalar
    models by MLR (`group_invariance`), one row per level with its fit, the change from the previous
    level, whether that level was retained and the highest level that holds; or one row with the status
    and reason where the models cannot be fitted (an instrument without the three dimensions, too few
    groups, an improper solution). `groups` names the groups compared (the reference first), `left_out`
    those below `min_group_size` (never with their counts). The second: each group's loading and
    intercept of every item in the configural model (loadings on the item's factor, its first item's
    fixed at 1), which show where a group departs.
    """
    rows, parameters = [], []
    for grouping in groupings:
        base = {"grouping": grouping}
        try:
            if not all(instrument.dimensions.get(d) for d in DIMENSIONS):
                raise NotEstimable(Message("{instrument} does not map its items to bond, goal and task",
                                           instrument=name_in_words(instrument)))
            if min(len(instrument.dimensions[d]) for d in DIMENSIONS) < 2:
                raise NotEstimable(Message("{instrument} measures a dimension by one item: the invariance "
                                           "models take the bond, goal and task map of its items (not its "
                                           "subscales, which the factor analysis above uses), and a factor "
                                           "needs at least two", instrument=name_in_words(instrument)))
            result = group_invariance(group_answers(first, patients, instrument, grouping), instrument,
                                      grouping, min_group_size=min_group_size)
        except NotEstimable as error:
            rows.append(base | {"status": error.status, "reason": error.reason,
                                "reason_message": message_text(error.message)})
            continue
        shared = base | {"n": sum(result["groups"].values()), "n_groups": len(result["groups"]),
                         "groups": "; ".join(result["groups"]), "left_out": "; ".join(result["left_out"]),
                         "highest_level": result["highest_level"], "status": FITTED, "reason": "",
                         "reason_message": ""}
        for row in result["table"].to_dict("records"):
            rows.append(shared | {key: row.get(key) for key in INVARIANCE_COLUMNS if key in row})
        estimates = result["fits"]["configural"]["estimates"]
        loadings = estimates[estimates["op"] == "=~"].rename(columns={"lhs": "factor", "rhs": "item",
                                                                       "est": "loading"})
        intercepts = estimates[estimates["op"] == "~1"].rename(columns={"lhs": "item", "est": "intercept"})
        both = loadings[["group", "factor", "item", "loading"]].merge(
            intercepts[["group", "item", "intercept"]], on=["group", "item"])
        parameters.append(both.assign(grouping=grouping, group=both["group"].astype(str)))
    table = pd.DataFrame(rows, columns=INVARIANCE_COLUMNS)
    return table, (pd.concat(parameters, ignore_index=True)[PARAMETER_COLUMNS] if parameters
                   else pd.DataFrame(columns=PARAMETER_COLUMNS))
