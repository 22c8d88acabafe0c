# Shared values and input functions (named get_*).

import os

from alliance.outputs import FIGURES, PSYCHOMETRIC_TABLES

ENV = "../../environment.yml"
MODEL_FAMILIES = ["adherence", "dropout", "satisfaction", "symptoms"]
TABLES = ["patients", "sessions", "outcomes"]
SYNTHETIC = "data/synthetic"


def get_table(table):
    """Path of one contract table, as configured."""
    return config["data"][table]


def get_tables(wildcards):
    """The input files, as configured: the REDCap export (data.redcap.file) or the three tables."""
    redcap = config["data"].get("redcap", {}).get("file")
    return {"redcap": redcap} if redcap else {table: get_table(table) for table in TABLES}


def get_truth(wildcards):
    """The synthetic cohort's truth.json, when the configured data are the synthetic cohort."""
    synthetic = os.path.normpath(get_table("patients")) == os.path.normpath(
        f"{SYNTHETIC}/patients.csv"
    ) and not config["data"].get("redcap", {}).get("file")
    return {"truth": f"{SYNTHETIC}/truth.json"} if synthetic else {}
