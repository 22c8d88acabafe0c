"""One batch of replications of one simulation condition, one after the other in this process: each a
synthetic cohort from its own seed, analysed as the workflow does."""

import pandas as pd

from alliance.io import write_csv
from alliance.runtime.runlog import start_log, user_errors_to_console
from alliance.simulation.study import run_replication

log = start_log(snakemake.log[0])
tables = []
with user_errors_to_console(log):
    for replication in snakemake.params.replications:
        table = run_replication(
            snakemake.params.synthetic, snakemake.params.condition, replication,
            seed=snakemake.params.seed, early_window=snakemake.params.early_window,
            covariates=list(snakemake.params.covariates), ruptures=snakemake.params.ruptures,
            min_clusters=snakemake.params.min_clusters,
        )
        log.info("%s replication %s: %d effect rows, status %s", snakemake.wildcards.condition, replication,
                 len(table), table["status"].value_counts().to_dict())
        tables.append(table)
write_csv(pd.concat(tables, ignore_index=True), snakemake.output[0])
