"""The notebooks are valid jupytext pairs; running them on a real run is in test_workflow.py."""

from __future__ import annotations

import jupytext
import nbformat
import pytest

from alliance.errors import InputError
from alliance.runtime.results import load_results

NOTEBOOKS = ("explore_cohort", "trajectories_ruptures", "model_diagnostics")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_a_paired_percent_script(root, name):
    notebook = jupytext.read(root / "notebooks" / f"{name}.py")
    nbformat.validate(notebook)
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds[0] == "markdown" and kinds.count("code") >= 3
    assert "load_results" in "".join(cell.source for cell in notebook.cells)


def test_load_results_says_what_is_missing(tmp_path):
    with pytest.raises(InputError, match=r"has no finished run \(features/patients.parquet"):
        load_results(tmp_path)
