"""Every notebooks/*.py is a valid jupytext pair that opens with the project's kernel (`make lab`) and is
listed in notebooks/README.md; running them on a real run is in test_workflow.py."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat
import pytest

from alliance.errors import InputError
from alliance.runtime.results import load_results

NOTEBOOKS = sorted(path.stem for path in (Path(__file__).resolve().parents[2] / "notebooks").glob("*.py"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_a_paired_percent_script(root, name):
    notebook = jupytext.read(root / "notebooks" / f"{name}.py")
    nbformat.validate(notebook)
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds[0] == "markdown" and kinds.count("code") >= 3
    assert "load_results" in "".join(cell.source for cell in notebook.cells)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_opens_with_the_kernel_make_lab_installs(root, name):
    kernel = re.search(r"^KERNEL := (\S+)$", (root / "Makefile").read_text(), re.M).group(1)
    spec = jupytext.read(root / "notebooks" / f"{name}.py").metadata["kernelspec"]
    assert spec["name"] == kernel and spec["language"] == "python"


def test_every_notebook_is_in_the_readme_table(root):
    listed = set(re.findall(r"^\| `(\w+)\.py` \|", (root / "notebooks" / "README.md").read_text(), re.M))
    assert listed == set(NOTEBOOKS)


def test_load_results_says_what_is_missing(tmp_path):
    with pytest.raises(InputError, match=r"has no finished run \(features/patients.parquet"):
        load_results(tmp_path)
