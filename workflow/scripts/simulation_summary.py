"""Performance of the estimators per condition and effect, and the sample size for the target power."""

import pandas as pd

from alliance.io import write_csv
from alliance.runtime.runlog import start_log, user_errors_to_console
from alliance.simulation.study import sample_size, summarise

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    truth = pd.concat([pd.read_csv(path, keep_default_na=False, na_values=[""])
                       for path in snakemake.input.truth], ignore_index=True)
    replications = pd.concat([pd.read_csv(path, keep_default_na=False, na_values=[""])
                              for path in snakemake.input.replications], ignore_index=True)
    performance = summarise(replications, truth)
    sizes = sample_size(performance, snakemake.params.target_power)
write_csv(performance, snakemake.output.performance)
write_csv(sizes, snakemake.output.sample_size)
log.info("%d replication rows, %d failed; %d performance rows", len(replications),
         int((replications["status"] == "failed").sum()), len(performance))
