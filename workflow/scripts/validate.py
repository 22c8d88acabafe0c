"""Validate the three contract tables: write them typed (Parquet) with a summary, and a validation report.

The report (results/validated/validation_report.html, in the report's language, the problems and warnings
too; the console and the log stay English) is written whether validation passes or fails; it is not a
declared output, so Snakemake keeps it when the job fails. On failure no table is written and the job exits
with status 1 after listing every problem on the console.
"""

import sys
from pathlib import Path

from alliance.i18n import use_language
from alliance.ingest.contract import TABLES
from alliance.ingest.validation import console_summary, run_validation
from alliance.instruments import load_configured
from alliance.io import write_json, write_parquet, write_text
from alliance.report.validation import render_validation_report
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
report = Path(snakemake.params.report)
report.unlink(missing_ok=True)  # a job that stops before writing its own leaves no earlier run's report
with user_errors_to_console(log):
    instruments = load_configured(snakemake.params.instruments)
    outcome = run_validation(snakemake.params.data, snakemake.params.privacy, instruments)
with use_language(snakemake.params.language):
    write_text(render_validation_report(outcome), report)
message = console_summary(outcome, report)
if not outcome.passed:
    log.error("%s", message)
    print(f"\n{message}\n", file=sys.stderr)
    sys.exit(1)
for table in TABLES:
    write_parquet(getattr(outcome.validated, table), snakemake.output[table])
write_json(outcome.summary(), snakemake.output.summary)
log.info("%s", message)
print(message, file=sys.stderr)
