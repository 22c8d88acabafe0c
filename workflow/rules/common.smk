# Shared values and input functions (named get_*).

import os
import sys
import time
from pathlib import Path

from alliance.configuration import SYNTHETIC, uses_synthetic_cohort
from alliance.simulation.conditions import truth_scale
from alliance.outputs import FIGURES, MODEL_FIGURES, PSYCHOMETRIC_TABLES
from alliance.report.pdf import NO_BROWSER, find_browser
from alliance.runtime.fingerprint import code_fingerprint
from alliance.runtime.stale import set_aside_stale_outputs

ENV = "../../environment.yml"
MODEL_FAMILIES = ["adherence", "dropout", "satisfaction", "symptoms"]
TABLES = ["patients", "sessions", "outcomes"]
DATA_FIGURES = [name for name in FIGURES if name not in MODEL_FIGURES]  # the figures needing no model
BROWSER = find_browser()  # headless Chromium prints results/report.pdf; without it the run says how to get one
# The analysis plan the code implements: the manifest records its hash, which a site's bundle carries
# (make share), so that a network pools only runs of one plan
PLAN = str(Path(workflow.basedir) / "ANALYSIS_PLAN.md")
# Every job of the main run takes it as a parameter, so that a change of the package's code re-runs
# them (Snakemake sees a change of a job's script, not of the modules it imports); the simulation
# study's jobs do not (hours at R = 500): after a change, re-run it with `snakemake simulation --forceall`
CODE = code_fingerprint()


# When a run stops early (invalid data, a crash), the final outputs it did not rewrite are an earlier run's:
# they are moved to results/stale/ and the console says so. Files older than the start of this run are
# the earlier run's (Snakemake deletes a job's old outputs when the job starts).
RUN_STARTED = time.time()


onerror:
    message = set_aside_stale_outputs(Path("results"), RUN_STARTED, log)
    if message:
        print(f"\n{message}\n", file=sys.stderr)


def get_table(table):
    """Path of one contract table, as configured."""
    return config["data"][table]


def get_tables(wildcards):
    """The input files, as configured: the REDCap export (data.redcap.file) or the three tables."""
    redcap = config["data"].get("redcap", {}).get("file")
    return {"redcap": redcap} if redcap else {table: get_table(table) for table in TABLES}


def get_truth(wildcards):
    """The synthetic cohort's truth.json, when the configured data are the synthetic cohort."""
    return {"truth": str(rules.synthesize_truth.output.truth)} if uses_synthetic_cohort(config) else {}


# ---- Priorities ------------------------------------------------------------------------------
# After the features, three jobs are ready together while the synthetic truth, begun with the cohort,
# still holds a core: the psychometrics (with the figures of the data), the models and the early warning.
# Snakemake starts the job of higher priority first. The two long ones go first and the short early
# warning goes last, on the core the first of them frees: the three then end about when the longer two
# would alone (5 s of a 53 s run; docs/engineering-notes.md, "Job layout").
FIRST = 2  # psychometrics
SECOND = 1  # fit_models; the early warning keeps Snakemake's default, 0


# ---- Resources -------------------------------------------------------------------------------
# Every rule declares the portable resources `mem_mb` (MB) and `runtime` (minutes), which cluster executors
# turn into requests (profiles/slurm): a base plus a share per MB of the job's input files, times the retry
# attempt, so that a job killed for memory or time asks for more when `--retries` re-submits it.

# The synthetic generator's size, for `synthesize_truth` (it has no input files): the cohort and its truth
# population (both 100,000 patients at a cohort of 100,000: about 2.5 GB and 60 s).
SYNTHETIC_PATIENTS = config["synthetic"]["n_patients"] * (
    1
    + truth_scale(
        config["synthetic"]["n_patients"],
        config["synthetic"]["truth_multiplier"],
        config["synthetic"]["truth_max_patients"],
    )
)


def scaled_mem_mb(base_mb, per_input_mb=0.0):
    """A rule's `mem_mb`: base_mb plus per_input_mb per MB of input, times the attempt."""

    def mem_mb(wildcards, input, attempt):
        return int((base_mb + per_input_mb * input.size_mb) * attempt)

    return mem_mb


def scaled_runtime(base_min, per_input_mb=0.0):
    """A rule's `runtime` in minutes: base_min plus per_input_mb per MB of input, times the attempt."""

    def runtime(wildcards, input, attempt):
        return int((base_min + per_input_mb * input.size_mb) * attempt)

    return runtime
