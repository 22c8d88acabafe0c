"""Collect the effect rows of every model family into results/effects.csv."""

from alliance.io import read_json, write_csv
from alliance.models.effects import effects_table
from alliance.runlog import start_log

log = start_log(snakemake.log[0])
table = effects_table([read_json(path) for path in snakemake.input])
write_csv(table, snakemake.output[0])
log.info("%d effect rows", len(table))
