"""One replication of one simulation condition: a synthetic cohort analysed as the workflow does."""

from alliance.io import write_csv
from alliance.runtime.runlog import start_log, user_errors_to_console
from alliance.simulation.study import run_replication

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    table = run_replication(
        snakemake.params.synthetic, snakemake.params.condition, int(snakemake.wildcards.rep),
        seed=snakemake.params.seed, early_window=snakemake.params.early_window,
        covariates=list(snakemake.params.covariates), ruptures=snakemake.params.ruptures,
    )
write_csv(table, snakemake.output[0])
log.info("%s replication %s: %d effect rows, status %s", snakemake.wildcards.condition,
         snakemake.wildcards.rep, len(table), table["status"].value_counts().to_dict())
