"""The power curve of the simulation study (PNG and SVG)."""

import pandas as pd

from alliance.report.figures import power_curve, save_figure
from alliance.runtime.runlog import start_log

log = start_log(snakemake.log[0])
performance = pd.read_csv(snakemake.input[0], keep_default_na=False, na_values=[""])
save_figure(power_curve(performance, snakemake.params.target_power), snakemake.output.png,
            snakemake.output.svg)
log.info("power curve of %d performance rows", len(performance))
