"""Psychometrics of the alliance scores in this sample: one CSV per table."""

import pandas as pd

from alliance.instruments import load_configured
from alliance.io import write_csv
from alliance.measurement.tables import measurement_tables
from alliance.outputs import PSYCHOMETRIC_TABLES
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    tables = measurement_tables(
        pd.read_parquet(snakemake.input.patients),
        pd.read_parquet(snakemake.input.sessions),
        pd.read_parquet(snakemake.input.outcomes),
        session_scores=pd.read_parquet(snakemake.input.session_scores),
        instruments=load_configured(snakemake.params.instruments),
        settings=snakemake.params.settings,
    )
for name in PSYCHOMETRIC_TABLES:
    write_csv(tables[name], snakemake.output[name])
log.info("psychometrics: %s", {name: len(table) for name, table in tables.items()})
