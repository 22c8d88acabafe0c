"""The make-target checks' shared command line and files (alliance.simulation.checks)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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
