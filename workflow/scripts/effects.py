"""Collect the effect rows of every model family into results/effects.csv, with the FDR table."""

from alliance.io import read_json, write_csv
from alliance.models.effects import effects_table, multiplicity_table
from alliance.runtime.runlog import start_log

log = start_log(snakemake.log[0])
table = effects_table([read_json(path) for path in snakemake.input.models])
write_csv(table, snakemake.output.effects)
write_csv(multiplicity_table(table), snakemake.output.multiplicity)
log.info("%d effect rows", len(table))
