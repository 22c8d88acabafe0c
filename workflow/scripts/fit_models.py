"""Fit the models of one outcome family and write its result (effect rows, flow, notes)."""

import pandas as pd

from alliance.instruments import load_configured
from alliance.io import write_json, write_text
from alliance.models import fit_family
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    result = fit_family(
        snakemake.wildcards.family,
        pd.read_parquet(snakemake.input.patients),
        list(snakemake.params.covariates),
        sessions=pd.read_parquet(snakemake.input.sessions),
        satisfaction_range=load_configured(snakemake.params.instruments)["satisfaction"].score_range,
        early_window=snakemake.params.early_window,
        min_clusters=snakemake.params.min_clusters,
    )
write_json(result.to_dict(), snakemake.output.result)
write_text(result.summary, snakemake.output.summary)
log.info("%s: %s", result.family, result.effects)
