"""Build the patient and session features, ruptures and rupture-pattern shares."""

import pandas as pd

from alliance.features.build import build_features
from alliance.io import write_csv, write_parquet
from alliance.measurement.tables import total_alpha
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    tables = build_features(
        pd.read_parquet(snakemake.input.patients),
        pd.read_parquet(snakemake.input.outcomes),
        pd.read_parquet(snakemake.input.session_scores),
        patient_scores=pd.read_parquet(snakemake.input.patient_scores),
        early_window=snakemake.params.early_window,
        rupture_settings=snakemake.params.ruptures,
        total_alpha=total_alpha(pd.read_csv(snakemake.input.reliability)),
    )
for name in ("patients", "sessions", "ruptures"):
    write_parquet(tables[name], snakemake.output[name])
write_csv(tables["rupture_shares"], snakemake.output.rupture_shares)
log.info("%d patients, %d sessions", len(tables["patients"]), len(tables["sessions"]))
