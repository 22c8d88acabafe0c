"""The form of an instrument definition (README.md beside this file), as a JSON schema: a user's YAML is
checked against it before it is read, so that a missing or misspelt field is named with what it should
hold and an example (`alliance.configuration.schema_problems`), as the config's keys are."""

from __future__ import annotations

ITEM_LIST = {"type": "array", "items": {"type": "integer", "minimum": 1}}

INSTRUMENT_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["key", "items", "response", "subscales", "score", "total", "prorate"],
    "additionalProperties": False,
    "properties": {
        "key": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$", "examples": ["my_alliance"]},
        "name": {"type": "string", "examples": ["Clinic alliance form (6 items)"]},
        "citation": {"type": "string", "examples": ["our own form"]},
        "items": {"type": "integer", "minimum": 1, "examples": [6]},
        "response": {
            "type": "object", "required": ["min", "max"], "additionalProperties": False,
            "examples": [{"min": 1, "max": 7}],
            "properties": {"min": {"type": "number", "examples": [1]},
                           "max": {"type": "number", "examples": [7]},
                           "integer": {"type": "boolean", "examples": [False]}},
        },
        "reverse_keyed": {**ITEM_LIST, "type": ["array", "null"], "examples": [[5]]},
        "subscales": {"type": "object", "additionalProperties": ITEM_LIST,
                      "examples": [{"bond": [1, 3, 5], "task": [2, 4, 6]}]},
        "score": {"enum": ["mean", "sum"]},
        "total": {"enum": ["mean_of_subscales", "sum_of_subscales"]},
        "prorate": {
            "type": "object", "required": ["max_missing_per_subscale"], "additionalProperties": False,
            "examples": [{"max_missing_per_subscale": 1}],
            "properties": {"max_missing_per_subscale": {"type": "integer", "minimum": 0, "examples": [1]}},
        },
        "cutoff": {
            "type": "object", "required": ["value"], "additionalProperties": False,
            "examples": [{"value": 36, "inclusive": False}],
            "properties": {"value": {"type": "number", "examples": [36]},
                           "inclusive": {"type": "boolean", "examples": [False]}},
        },
        "dimensions": {"type": "object", "additionalProperties": ITEM_LIST,
                       "examples": [{"bond": [1], "goal": [2], "task": [3]}]},
        "requires_user_key": {"type": "boolean"},
    },
}
