"""The make-target checks' shared command line and files (alliance.simulation.checks)."""

from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest

from alliance.simulation.checks import OUT, check_parser, write_check


def test_every_check_takes_the_same_options_with_its_own_seed():
    args = check_parser("a check", seed=2000).parse_args([])
    assert (args.config, args.replications, args.seed, args.out) == (Path("config.yaml"), 100, 2000, OUT)
    args = check_parser("a check", seed=1, config=Path("other.yaml")).parse_args(
        ["--replications", "5", "--seed", "7", "--out", "elsewhere"])
    assert (args.config, args.replications, args.seed) == (Path("other.yaml"), 5, 7)
    assert args.out == Path("elsewhere")


def test_a_check_writes_its_replications_summary_and_markdown(tmp_path, capsys):
    replications = pd.DataFrame({"replication": [1, 2], "found": [True, False]})
    summary = pd.DataFrame({"condition": ["planted"], "share_found": [0.5]})
    write_check("toy_check", tmp_path / "validation", replications, summary, "| found | 50% |\n")
    out = tmp_path / "validation"
    assert sorted(p.name for p in out.iterdir()) == ["toy_check.csv", "toy_check.md",
                                                     "toy_check_replications.csv"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "toy_check_replications.csv"), replications)
    pd.testing.assert_frame_equal(pd.read_csv(out / "toy_check.csv"), summary)
    assert (out / "toy_check.md").read_text() == "| found | 50% |\n"
    assert capsys.readouterr().out == "| found | 50% |\n\n"


def test_a_check_of_no_cohorts_is_refused_in_words(capsys):
    """`make check-early-warning COHORTS=0` once ran the oracle cohorts and then stopped with a KeyError
    from the summary of no null cohorts; a count below 1 is now refused before any cohort is drawn."""
    from alliance.simulation import early_warning_check

    for value, words in (("0", "at least 1 cohort is needed, got 0"),
                         ("many", "expected a whole number of cohorts, got 'many'")):
        with pytest.raises(SystemExit) as stopped:
            check_parser("a check", seed=1).parse_args(["--replications", value])
        assert stopped.value.code == 2 and words in capsys.readouterr().err
    with pytest.raises(SystemExit), mock.patch.object(
            sys, "argv", ["early_warning_check", "--oracle-replications", "0"]), \
            mock.patch.object(early_warning_check, "replications", side_effect=AssertionError("drawn")):
        early_warning_check.main()
    assert "at least 1 cohort is needed, got 0" in capsys.readouterr().err
