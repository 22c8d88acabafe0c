"""The estimands of one simulation condition: the same analysis of a large population."""

from alliance.io import write_csv
from alliance.runtime.runlog import start_log, user_errors_to_console
from alliance.simulation.study import condition_truth

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    table = condition_truth(
        snakemake.params.synthetic, snakemake.params.condition, seed=snakemake.params.seed,
        truth_multiplier=snakemake.params.truth_multiplier, early_window=snakemake.params.early_window,
        covariates=list(snakemake.params.covariates), ruptures=snakemake.params.ruptures,
        min_clusters=snakemake.params.min_clusters,
    )
write_csv(table, snakemake.output[0])
log.info("%s truth: %d effect rows, status %s", snakemake.wildcards.condition, len(table),
         table["status"].value_counts().to_dict())
