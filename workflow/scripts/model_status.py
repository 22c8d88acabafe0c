"""The status of every planned model and sensitivity analysis of this run: results/models/status.csv."""

import pandas as pd

from alliance.io import read_json, write_csv
from alliance.models.plan import status_table
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    status = status_table([read_json(path) for path in snakemake.input.models],
                          pd.read_csv(snakemake.input.sensitivity),
                          read_json(snakemake.input.sensitivity_result))
write_csv(status, snakemake.output.status)
log.info("model status: %s", status["status"].value_counts().to_dict())
