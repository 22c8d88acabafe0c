"""The pooled report's forest plots in every language: nothing cut off at the figure's edge."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from figure_checks import layout_problems

from alliance.i18n import LANGUAGES, use_language
from alliance.network.pooling import BELOW_MINIMUM
from alliance.network.report import TITLES, forest, title_of

SITES = pd.DataFrame({"site": ["north", "south", "Hospital de Día Barcelona"],  # a long name narrows the axes
                      "status": ["pooled", "pooled", BELOW_MINIMUM], "estimate": [0.5, 0.7, np.nan],
                      "ci_low": [0.2, 0.3, np.nan], "ci_high": [0.8, 1.1, np.nan]})
POOLED = {"estimate": 0.6, "ci_low": 0.4, "ci_high": 0.8, "pi_low": 0.1, "pi_high": 1.1}


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_forest_plot_title_fits_in_every_language(code):
    """The Spanish and Catalan titles run longer than the English (up to 93 characters) and wrap; in
    English they stay on one line. Without the wrap, three Spanish and three Catalan titles were cut off."""
    with use_language(code):
        figures = {key: forest(title_of(key), "log-odds", SITES, POOLED, band=(0.55, 0.4, 0.7))
                   for key in TITLES}
    problems = {key: found for key, figure in figures.items() if (found := layout_problems(figure))}
    lines = {key: figure.axes[0].get_title().count("\n") + 1 for key, figure in figures.items()}
    plt.close("all")
    assert problems == {}
    if code == "en":
        assert set(lines.values()) == {1}
    else:
        assert max(lines.values()) == 2
