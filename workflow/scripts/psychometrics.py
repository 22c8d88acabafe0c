"""Psychometrics of the alliance scores in this sample (one CSV per table), then the report's figures of the
scores, features and psychometrics (PNG and SVG)."""


import pandas as pd

from alliance.i18n import use_language
from alliance.instruments import load_configured
from alliance.io import read_tables, write_csv
from alliance.measurement.tables import measurement_tables
from alliance.report.figures import data_figures, save_figures
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
output = snakemake.output
with user_errors_to_console(log):
    instruments = load_configured(snakemake.params.instruments)
    tables = measurement_tables(
        pd.read_parquet(snakemake.input.patients),
        pd.read_parquet(snakemake.input.sessions),
        pd.read_parquet(snakemake.input.outcomes),
        session_scores=pd.read_parquet(snakemake.input.session_scores),
        instruments=instruments,
        settings=snakemake.params.settings,
    )
for name in snakemake.params.tables:
    write_csv(tables[name], output[name])
log.info("psychometrics: %s", {name: len(table) for name, table in tables.items()})

with user_errors_to_console(log), use_language(snakemake.params.language):  # the tables as written
    figures = data_figures(
        pd.read_parquet(snakemake.input.session_scores),
        pd.read_parquet(snakemake.input.features),
        instrument=instruments["alliance"],
        min_cell_size=snakemake.params.min_cell_size,
        psychometrics=read_tables(output[name] for name in snakemake.params.tables),
        ruptures=pd.read_parquet(snakemake.input.ruptures),
        synthetic=snakemake.params.synthetic,
    )
    save_figures(figures, output.png, output.svg)  # one core: the models' job holds the other
log.info("figures: %s", ", ".join(figures))
