"""Performance of the estimators per condition and effect, the sample size for the target power, and the
power curve (PNG and SVG)."""

import pandas as pd

from alliance.io import write_csv
from alliance.report.figures import power_curve, save_figure
from alliance.runtime.runlog import start_log, user_errors_to_console
from alliance.simulation.study import sample_size, summarise

log = start_log(snakemake.log[0])
output = snakemake.output
with user_errors_to_console(log):
    truth = pd.concat([pd.read_csv(path, keep_default_na=False, na_values=[""])
                       for path in snakemake.input.truth], ignore_index=True)
    replications = pd.concat([pd.read_csv(path, keep_default_na=False, na_values=[""])
                              for path in snakemake.input.replications], ignore_index=True)
    performance = summarise(replications, truth)
    sizes = sample_size(performance, snakemake.params.target_power)
write_csv(performance, output.performance)
write_csv(sizes, output.sample_size)
log.info("%d replication rows, %d failed; %d performance rows", len(replications),
         int((replications["status"] == "failed").sum()), len(performance))

with user_errors_to_console(log):  # the figure from the table as written, as its own job read it
    performance = pd.read_csv(output.performance, keep_default_na=False, na_values=[""])
    figure = power_curve(performance, snakemake.params.target_power)
save_figure(figure, output.png, output.svg)
log.info("power curve of %d performance rows", len(performance))
