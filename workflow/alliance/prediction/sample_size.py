"""How many predictor parameters a sample supports: Riley et al.'s (2020) criteria for developing a
logistic prediction model, turned round for the sample at hand (ANALYSIS_PLAN.md, section 10,
"Predictors").

Riley et al. give the smallest sample for a model of p candidate predictor parameters, outcome
prevalence phi and anticipated Cox-Snell R^2 (R2): (i) an expected uniform shrinkage of at least S = 0.9,
n >= p / ((S - 1) ln(1 - R2 / S)); (ii) an optimism of at most 0.05 in Nagelkerke's R^2, criterion (i)
with S = R2 / (R2 + 0.05 max R2), max R2 = 1 - exp(2 (phi ln phi + (1 - phi) ln(1 - phi))); (iii) the
overall risk within 0.05, n >= (1.96 / 0.05)^2 phi (1 - phi), which no choice of predictors changes.
Without a previous model's R^2, they suggest R2 = 0.15 max R2 (a Nagelkerke R^2 of 0.15).
`parameter_budget` is the largest p that (i) and (ii) allow at the sample's n and phi.

Written here because pmsampsize, the authors' package (R, Stata; its Python port needs Python >= 3.12,
the project runs 3.11), answers the other question (n for a given p); `required_sample_size` reproduces
its published example (24 parameters, R2 0.288, prevalence 0.174: 623, 662 and 221 participants, 662 in
all), and `parameter_budget` is checked against it (tests/test_sample_size.py).

References
----------
Riley, R. D., Ensor, J., Snell, K. I. E., Harrell, F. E., Martin, G. P., Reitsma, J. B., Moons, K. G. M.,
Collins, G., & van Smeden, M. (2020). Calculating the sample size required for developing a clinical
prediction model. BMJ, 368, m441.
"""

from __future__ import annotations

import math

SHRINKAGE = 0.9  # criterion (i): expected uniform shrinkage of the predictor effects at least this
OPTIMISM = 0.05  # criterion (ii): apparent minus adjusted Nagelkerke R^2 at most this
R2_SHARE = 0.15  # anticipated R^2_CS as a share of its maximum, without a previous model's value
MARGIN = 0.05  # criterion (iii): the overall risk within this of the true one (95%)


def max_r2_cs(prevalence: float) -> float:
    """The largest Cox-Snell R^2 a logistic model of an outcome of this prevalence can reach."""
    log_null = prevalence * math.log(prevalence) + (1 - prevalence) * math.log(1 - prevalence)
    return 1 - math.exp(2 * log_null)


def anticipated_r2_cs(prevalence: float) -> float:
    """Riley et al.'s default anticipated Cox-Snell R^2: `R2_SHARE` of its maximum."""
    return R2_SHARE * max_r2_cs(prevalence)


def _per_parameter(r2_cs: float, shrinkage: float) -> float:
    """Parameters per participant that a shrinkage of `shrinkage` allows: (S - 1) ln(1 - R2 / S)."""
    return (shrinkage - 1) * math.log(1 - r2_cs / shrinkage)


def _shrinkages(prevalence: float, r2_cs: float) -> tuple[float, float]:
    """The shrinkage of criterion (i) and the one criterion (ii) implies."""
    if not 0 < r2_cs < SHRINKAGE or r2_cs >= max_r2_cs(prevalence):
        raise ValueError(f"an anticipated Cox-Snell R^2 of {r2_cs} is not below {SHRINKAGE} and the "
                         f"maximum {max_r2_cs(prevalence):.3f} at prevalence {prevalence}")
    return SHRINKAGE, r2_cs / (r2_cs + OPTIMISM * max_r2_cs(prevalence))


def required_sample_size(parameters: int, prevalence: float, r2_cs: float) -> dict[str, int]:
    """The participants each criterion asks for a model of `parameters` predictor parameters, and the
    largest of them (`"final"`), as pmsampsize reports them.

    Parameters
    ----------
    parameters : candidate predictor parameters (a category of L levels counts L - 1)
    prevalence : anticipated outcome prevalence, in (0, 1)
    r2_cs : anticipated Cox-Snell R^2

    References
    ----------
    Riley et al. (2020), BMJ 368, m441, criteria (i)-(iii).
    """
    first, second = _shrinkages(prevalence, r2_cs)
    sizes = {"shrinkage": math.ceil(parameters / _per_parameter(r2_cs, first)),
             "optimism": math.ceil(parameters / _per_parameter(r2_cs, second)),
             "intercept": math.ceil((1.96 / MARGIN) ** 2 * prevalence * (1 - prevalence))}
    return sizes | {"final": max(sizes.values())}


def parameter_budget(n: int, prevalence: float, r2_cs: float | None = None) -> int:
    """The most predictor parameters a model developed on `n` participants meets criteria (i) and (ii)
    with (0 when not even one): the largest p whose `required_sample_size` by those two is at most n.
    `r2_cs` defaults to `anticipated_r2_cs(prevalence)`. Criterion (iii) does not depend on p.

    References
    ----------
    Riley et al. (2020), BMJ 368, m441.
    """
    r2 = anticipated_r2_cs(prevalence) if r2_cs is None else r2_cs
    per = min(_per_parameter(r2, shrinkage) for shrinkage in _shrinkages(prevalence, r2))

    def needs(p: int) -> int:
        sizes = required_sample_size(p, prevalence, r2)
        return max(sizes["shrinkage"], sizes["optimism"])

    budget = max(int(n * per), 0)  # the closed form, then settled against the ceilings of the sizes
    while needs(budget + 1) <= n:
        budget += 1
    while budget > 0 and needs(budget) > n:
        budget -= 1
    return budget
