"""Write the synthetic cohort: its three contract tables (its truth is written by `synthesize_truth`)."""

import numpy as np

from alliance.io import write_csv
from alliance.runtime.runlog import start_log, user_errors_to_console
from alliance.simulation.synthetic import generate_cohort

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    settings = snakemake.params.synthetic
    # The cohort of `synthesize` (alliance.simulation.synthetic): its generator, seeded as it seeds it.
    patients, sessions, outcomes, _ = generate_cohort(settings, snakemake.params.early_window,
                                                      np.random.default_rng(settings["seed"]))
write_csv(patients, snakemake.output.patients)
write_csv(sessions, snakemake.output.sessions)
write_csv(outcomes, snakemake.output.outcomes)
log.info("%d patients, %d sessions, dropout rate %.3f", len(patients), len(sessions),
         outcomes["dropout"].mean())
