"""Sensitivity analyses of the primary effects: imputation, other early windows, winsorizing, bootstrap."""

import pandas as pd

from alliance.instruments import load_configured
from alliance.io import write_csv, write_json
from alliance.models.sensitivity import sensitivity_analyses
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    tables = {name: pd.read_parquet(snakemake.input[name])
              for name in ("patients", "outcomes", "session_scores", "patient_scores")}
    table, summary, seconds = sensitivity_analyses(
        pd.read_parquet(snakemake.input.features),
        list(snakemake.params.covariates),
        dict(snakemake.params.settings),
        early_window=snakemake.params.early_window,
        tables=tables,
        score_range=load_configured(snakemake.params.instruments)["satisfaction"].score_range,
        min_clusters=snakemake.params.min_clusters,
    )
write_csv(table, snakemake.output.table)
write_json(summary, snakemake.output.result)
for failure in summary["failures"]:
    log.warning("not computed (%(status)s): %(variant)s / %(outcome)s: %(reason)s", failure)
for name, value in seconds.items():
    log.info("%s: %.2f s", name, value)
log.info("%d rows", len(table))
