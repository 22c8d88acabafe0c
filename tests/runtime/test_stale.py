"""A failed run sets the previous run's final outputs aside in results/stale/."""

from __future__ import annotations

import os

from alliance.runtime.manifest import output_files
from alliance.runtime.stale import set_aside_stale_outputs

STARTED = 1_700_000_000.0
OLD, NEW = STARTED - 3600, STARTED + 5


def write(results, relative, text, mtime):
    path = results / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def test_outputs_older_than_the_run_are_moved_newer_kept(tmp_path):
    results = tmp_path / "results"
    write(results, "effects.csv", "old effects", OLD)
    write(results, "report.html", "old report", OLD)
    write(results, "figures/forest_plot.png", "old png", OLD)
    write(results, "figures/forest_plot.svg", "old svg", OLD)
    write(results, "feedback/T01.html", "old page", OLD)
    write(results, "models/multiplicity.csv", "this run's", NEW)
    write(results, "models/adherence/result.json", "an intermediate", OLD)
    # a reviewer's failed run had left these of the previous run: the Methods' data-specific sentences and
    # the early warning's measures and clinic list
    write(results, "methods.md", "old methods", OLD)
    write(results, "early_warning/patient_list.csv", "old risks", OLD)
    write(results, "early_warning/measures.csv", "old measures", OLD)
    message = set_aside_stale_outputs(results, STARTED, [".snakemake/log/run.snakemake.log"])
    assert (stale := results / "stale").joinpath("methods.md").read_text() == "old methods"
    assert (stale / "early_warning/patient_list.csv").read_text() == "old risks"
    assert not (results / "early_warning").exists() and not (results / "methods.md").exists()

    stale = results / "stale"
    assert (stale / "effects.csv").read_text() == "old effects"
    assert (stale / "report.html").read_text() == "old report"
    assert (stale / "figures/forest_plot.png").read_text() == "old png"
    assert (stale / "feedback/T01.html").read_text() == "old page"
    assert not (results / "effects.csv").exists() and not (results / "report.html").exists()
    assert not (results / "feedback").exists() and not (results / "figures/forest_plot.svg").exists()
    assert (results / "models/multiplicity.csv").read_text() == "this run's"  # written by this run
    assert not (stale / "models/multiplicity.csv").exists()
    assert (results / "models/adherence/result.json").exists()  # not a final output
    assert (stale / "effects.csv").stat().st_mtime == OLD  # the earlier run's date is kept

    assert message.startswith("This run stopped before it finished; the outputs of the previous run were "
                              f"moved to {stale}/ so that they cannot be mistaken for this run's: "
                              "effects.csv, report.html, methods.md, early_warning/, feedback/, 2 figure "
                              "files (figures/).")
    readme = (stale / "README.txt").read_text()
    assert "outputs of an earlier run" in readme and ".snakemake/log/run.snakemake.log" in readme
    assert "  effects.csv\n" in readme and "  models/multiplicity.csv" not in readme
    assert output_files(results) == [results / "models/adherence/result.json",
                                     results / "models/multiplicity.csv"]  # not in the manifest


def test_older_stale_copies_are_replaced(tmp_path):
    results = tmp_path / "results"
    write(results, "stale/report.html", "older report", OLD - 3600)
    write(results, "stale/README.txt", "older readme", OLD - 3600)
    write(results, "effects.csv", "old effects", OLD)
    assert set_aside_stale_outputs(results, STARTED)
    assert sorted(p.name for p in (results / "stale").iterdir()) == ["README.txt", "effects.csv"]
    assert "log" not in (results / "stale/README.txt").read_text()


def test_nothing_to_move_touches_nothing(tmp_path):
    results = tmp_path / "results"
    write(results, "effects.csv", "this run's", NEW)
    write(results, "validated/validation_summary.json", "{}", OLD)
    assert set_aside_stale_outputs(results, STARTED) == ""
    assert not (results / "stale").exists()
    assert (results / "effects.csv").read_text() == "this run's"
    assert set_aside_stale_outputs(tmp_path / "no_results", STARTED) == ""
    assert not (tmp_path / "no_results").exists()


def test_the_models_of_an_earlier_run_are_set_aside_whole(tmp_path):
    """A run that stopped at validation had left the previous run's model results and summaries (a
    regression's "No. Observations: 88") in results/models/: the folder goes to stale/ with the rest."""
    results = tmp_path / "results"
    write(results, "models/dropout/summary.txt", "No. Observations: 88", OLD)
    write(results, "models/status.csv", "old statuses", OLD)
    assert "models/" in set_aside_stale_outputs(results, STARTED)
    assert (results / "stale/models/dropout/summary.txt").read_text() == "No. Observations: 88"
    assert not (results / "models").exists()
