"""Write the synthetic cohort's truth: the estimands of a large population from the same generator."""

from alliance.io import write_json
from alliance.runtime.runlog import start_log, user_errors_to_console
from alliance.simulation.synthetic import synthesize

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    *_, truth = synthesize(snakemake.params.synthetic, snakemake.params.early_window,
                           snakemake.params.covariates)
write_json(truth, snakemake.output.truth)
log.info("truth of %d effects from a population of %d patients", len(truth["effects"]),
         truth["population_patients"])
