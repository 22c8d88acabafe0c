"""Riley et al.'s (2020) sample-size criteria and the parameter budget the early warning takes from them."""

from __future__ import annotations

import math

import pytest

from alliance.prediction.sample_size import (
    anticipated_r2_cs,
    max_r2_cs,
    parameter_budget,
    required_sample_size,
)


def test_the_published_example():
    """pmsampsize's binary example (Riley et al., 2020; the package's own test): 24 parameters, Cox-Snell
    R^2 0.288, prevalence 0.174 need 623 participants by criterion (i), 662 by (ii), 221 by (iii), 662."""
    assert required_sample_size(24, 0.174, 0.288) == {"shrinkage": 623, "optimism": 662, "intercept": 221,
                                                      "final": 662}


def test_the_budget_turns_the_published_example_round():
    """662 participants support the example's 24 parameters and 661 only 23 (criterion (ii) binds);
    623 participants, enough for 24 by criterion (i) alone, support 22."""
    assert parameter_budget(662, 0.174, 0.288) == 24
    assert parameter_budget(661, 0.174, 0.288) == 23
    assert parameter_budget(623, 0.174, 0.288) == 22


def test_the_budget_of_the_default_cohort_by_hand():
    """The path the early warning runs (anticipated R^2 by default): the default cohort's 380 patients at
    session 3, 67 of whom dropped out. max R^2_CS = 1 - exp(2 (phi ln phi + (1 - phi) ln(1 - phi))) = 0.60605;
    R^2_CS = 0.15 x 0.60605 = 0.090907; criterion (i): 380 x 0.1 x -ln(1 - 0.090907 / 0.9) = 4.046 parameters;
    criterion (ii): S = 0.75, 380 x 0.25 x -ln(1 - 0.090907 / 0.75) = 12.27. So 4: 376 participants needed
    for 4, 470 for 5."""
    phi = 67 / 380
    assert max_r2_cs(phi) == pytest.approx(0.606046, abs=1e-6)
    assert anticipated_r2_cs(phi) == pytest.approx(0.0909069, abs=1e-7)
    assert parameter_budget(380, phi) == 4
    assert required_sample_size(4, phi, anticipated_r2_cs(phi))["shrinkage"] == 376
    assert required_sample_size(5, phi, anticipated_r2_cs(phi))["shrinkage"] == 470
    assert parameter_budget(375, phi) == 3 and parameter_budget(376, phi) == 4


@pytest.mark.parametrize(("n", "expected"), [(1, 0), (93, 0), (94, 1), (10_000, 106)])
def test_small_and_large_samples(n, expected):
    """A sample too small for one parameter gets 0 (the early warning still enters its first predictor);
    10,000 patients support every candidate. Hand: 0.1 x -ln(1 - 0.090907 / 0.9) = 0.0106481 parameters per
    patient, so one needs ceil(93.9) = 94 patients and 10,000 give floor(106.5) = 106."""
    assert 0.1 * -math.log(1 - 0.0909069 / 0.9) == pytest.approx(0.0106481, abs=1e-7)
    assert parameter_budget(n, 67 / 380) == expected


def test_an_impossible_anticipated_r2_is_refused():
    """An R^2_CS at or above its maximum (0.606 at this prevalence) has no sample size."""
    with pytest.raises(ValueError, match="maximum"):
        parameter_budget(1000, 67 / 380, 0.7)
