"""Write the per-therapist feedback pages (optional target), in the report's language."""

import pandas as pd

from alliance.i18n import use_language
from alliance.report.feedback import feedback_pages
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
with user_errors_to_console(log), use_language(snakemake.params.language):
    index = feedback_pages(pd.read_parquet(snakemake.input.features),
                           pd.read_parquet(snakemake.input.session_scores),
                           snakemake.params.min_cell_size, out_dir=snakemake.output[0])
log.info("%d therapist pages; %d therapists below the minimum cell size", (index["page"] != "").sum(),
         (index["page"] == "").sum())
