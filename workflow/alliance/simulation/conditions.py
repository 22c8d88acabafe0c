"""The conditions of the simulation study and the size of the truth population: a light module, imported
when the Snakefile is parsed."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import pandas as pd

CONDITION_COLUMNS = ["condition", "patients", "therapists", "effect_scale"]


def format_scale(value: float) -> str:
    """An effect scale as written in condition ids: 1 -> '1.0', 0.5 -> '0.5', 0.25 -> '0.25'."""
    return np.format_float_positional(float(value), trim="0")


def condition_id(patients: int, therapists: int, effect_scale: float) -> str:
    """A readable id of one condition, e.g. `n400_t32_e1.0`."""
    return f"n{int(patients)}_t{int(therapists)}_e{format_scale(effect_scale)}"


def condition_grid(settings: Mapping) -> pd.DataFrame:
    """Every (patients, therapists, effect scale) condition of the `simulation` config block, sorted by
    patients, therapists and effect scale (duplicates removed); columns `CONDITION_COLUMNS`."""
    grid = sorted(set(itertools.product(
        (int(n) for n in settings["patients"]), (int(t) for t in settings["therapists"]),
        (float(e) for e in settings["effect_scale"]))))
    if not grid:
        raise ValueError("simulation.patients, .therapists and .effect_scale each need at least one value")
    table = pd.DataFrame(grid, columns=CONDITION_COLUMNS[1:])
    table.insert(0, "condition", [condition_id(*row) for row in grid])
    return table


def truth_scale(n_patients: int, multiplier: int, max_patients: int) -> int:
    """How many times the cohort the truth population is: `multiplier`, lowered so that the population has
    at most `max_patients` patients (a registry-sized cohort needs no population 50 times its size: its
    own estimates are precise), never below 1."""
    return max(1, min(int(multiplier), int(max_patients) // max(int(n_patients), 1)))


def replication_batches(replications: int, batch_size: int) -> dict[int, range]:
    """Replications 1..`replications` in consecutive batches of at most `batch_size`, numbered from 1."""
    starts = range(1, replications + 1, batch_size)
    return {i: range(start, min(start + batch_size, replications + 1)) for i, start in enumerate(starts, 1)}
