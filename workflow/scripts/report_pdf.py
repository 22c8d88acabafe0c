"""Print the report to PDF and take a screenshot of its first screen, with headless Chromium."""

from alliance.report.pdf import print_and_screenshot
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    print_and_screenshot(snakemake.input[0], snakemake.output.pdf, snakemake.output.screenshot,
                         snakemake.params.browser)
log.info("printed %s and %s with %s", snakemake.output.pdf, snakemake.output.screenshot,
         snakemake.params.browser)
