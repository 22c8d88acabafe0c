"""The check of measurement invariance across generated cohorts (make check-invariance), on two cohorts
per condition."""

from __future__ import annotations

import pandas as pd

from alliance.simulation.invariance_check import PLANTED, markdown, replications, summarise


def test_planted_rejected_and_none_retained_on_a_few_cohorts(default_config):
    early_window = default_config["features"]["early_window"]
    planted = replications(default_config["synthetic"], PLANTED | {"intercept": 0.8},
                           early_window=early_window, count=2, seed=200)
    none = replications(default_config["synthetic"], {"discipline": ""}, early_window=early_window, count=2,
                        seed=100)
    assert planted["seed"].tolist() == [200, 201] and (planted["status"] == "fitted").all()
    assert (planted["highest_level"] != "scalar").all() and (none["highest_level"] == "scalar").all()
    summary = pd.DataFrame([summarise(planted, "planted"), summarise(none, "none")])
    assert summary["rejected"].tolist() == [1.0, 0.0] and summary["fitted"].tolist() == [2, 2]
    text = markdown(summary)
    assert "rejected in 100% of 2 fitted (met: at least 80%)" in text
    assert "retained in 100% of 2 fitted (met: at least 90%)" in text


def test_unfitted_replications_do_not_count():
    table = pd.DataFrame({"status": ["fitted", "not_estimable", "fitted"],
                          "highest_level": ["metric", None, "scalar"]})
    row = summarise(table, "planted")
    assert (row["replications"], row["fitted"], row["rejected"]) == (3, 2, 0.5)
