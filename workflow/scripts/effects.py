"""Collect the effect rows of every model family into results/effects.csv, with the FDR table."""

from alliance.io import read_json, write_csv
from alliance.models.effects import effects_table, multiplicity_table
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    table = effects_table([read_json(path) for path in snakemake.input.models])
    multiplicity = multiplicity_table(table)
write_csv(table, snakemake.output.effects)
write_csv(multiplicity, snakemake.output.multiplicity)
log.info("%d effect rows", len(table))
