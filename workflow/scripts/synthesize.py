"""Write the synthetic cohort (three contract tables) and its truth."""

from alliance.io import write_csv, write_json
from alliance.runtime.runlog import start_log, user_errors_to_console
from alliance.simulation.synthetic import synthesize

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    patients, sessions, outcomes, truth = synthesize(
        snakemake.params.synthetic, snakemake.params.early_window, snakemake.params.covariates
    )
write_csv(patients, snakemake.output.patients)
write_csv(sessions, snakemake.output.sessions)
write_csv(outcomes, snakemake.output.outcomes)
write_json(truth, snakemake.output.truth)
log.info("%d patients, %d sessions, dropout rate %.3f", len(patients), len(sessions),
         truth["dropout_rate"])
