"""`alliance.io`'s JSON: strict (RFC 8259), an undefined number as null, numpy values as numbers, sorted
keys, the same bytes for the same object."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from alliance.io import json_text, read_json, write_json


def _strict(text: str):
    return json.loads(text, parse_constant=lambda word: pytest.fail(f"{word} is not JSON"))


def test_undefined_numbers_are_null_and_numpy_values_numbers(tmp_path):
    result = {"b": [1.5, math.nan, np.float64("nan"), np.float32(0.25), np.inf, -math.inf],
              "a": {"n": np.int64(3), "flag": np.bool_(True), "values": np.array([0.5, np.nan]),
                    "reason": None, "label": "CR3", "pair": (np.float64(2.0), "x")}}
    text = json_text(result)
    assert _strict(text) == {"a": {"n": 3, "flag": True, "values": [0.5, None], "reason": None,
                                   "label": "CR3", "pair": [2.0, "x"]},
                             "b": [1.5, None, None, 0.25, None, None]}
    assert text.index('"a"') < text.index('"b"') and text.endswith("}\n")
    assert json_text(result) == text  # the same bytes again
    write_json(result, tmp_path / "result.json")
    assert (tmp_path / "result.json").read_text() == text
    assert read_json(tmp_path / "result.json")["b"][1] is None


def test_finite_values_are_written_as_before():
    value = {"estimate": -0.123456789012345, "n": 370, "ok": False, "name": "ñ"}
    assert json_text(value) == json.dumps(value, indent=2, sort_keys=True) + "\n"


def test_an_object_json_cannot_hold_is_still_refused():
    with pytest.raises(TypeError):
        json_text({"when": object()})
