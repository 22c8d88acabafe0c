"""Score the alliance questionnaire per session and satisfaction per patient."""

import pandas as pd

from alliance.instruments import load_configured
from alliance.io import write_json, write_parquet
from alliance.runtime.runlog import start_log, user_errors_to_console
from alliance.scoring.scores import score_patients, score_sessions, scoring_summary

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    instruments = load_configured(snakemake.params.instruments)
    session_scores = score_sessions(
        pd.read_parquet(snakemake.input.sessions), instruments["alliance"], instruments["therapist"]
    )
    patient_scores = score_patients(pd.read_parquet(snakemake.input.outcomes), instruments["satisfaction"])
    summary = scoring_summary(session_scores, patient_scores, instruments)
write_parquet(session_scores, snakemake.output.sessions)
write_parquet(patient_scores, snakemake.output.patients)
write_json(summary, snakemake.output.summary)
log.info("%s", summary)
