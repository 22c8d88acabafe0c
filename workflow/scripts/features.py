"""Build one row of alliance features and outcomes per patient."""

import pandas as pd

from alliance.features import patient_features
from alliance.io import write_parquet
from alliance.runlog import start_log

log = start_log(snakemake.log[0])
features = patient_features(
    pd.read_parquet(snakemake.input.patients),
    pd.read_parquet(snakemake.input.session_scores),
    pd.read_parquet(snakemake.input.patient_scores),
    pd.read_parquet(snakemake.input.outcomes),
    snakemake.params.early_window,
)
write_parquet(features, snakemake.output[0])
log.info("%d patients", len(features))
