"""Fixtures of the report's tests."""

import pytest
from report_inputs import report_inputs


@pytest.fixture
def inputs(tmp_path):
    """The keyword arguments of `build_report` for a small hand-set run (`report_inputs`)."""
    return report_inputs(tmp_path)
