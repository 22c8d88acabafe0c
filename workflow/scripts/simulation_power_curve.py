"""The power curve of the simulation study (PNG and SVG)."""

import pandas as pd

from alliance.report.figures import power_curve, save_figure
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    performance = pd.read_csv(snakemake.input[0], keep_default_na=False, na_values=[""])
    figure = power_curve(performance, snakemake.params.target_power)
save_figure(figure, snakemake.output.png, snakemake.output.svg)
log.info("power curve of %d performance rows", len(performance))
