"""Score the alliance questionnaire per session and satisfaction per patient, then build the patient and
session features, ruptures and rupture-pattern shares."""

import pandas as pd

from alliance.features.build import build_features, criterion_alpha
from alliance.instruments import load_configured
from alliance.io import read_json, write_csv, write_json, write_parquet
from alliance.runtime.runlog import start_log, user_errors_to_console
from alliance.scoring.scores import score_patients, score_sessions, scoring_summary

log = start_log(snakemake.log[0])
output = snakemake.output
with user_errors_to_console(log):
    instruments = load_configured(snakemake.params.instruments)
    session_scores = score_sessions(
        pd.read_parquet(snakemake.input.sessions), instruments["alliance"], instruments["therapist"]
    )
    patient_scores = score_patients(pd.read_parquet(snakemake.input.outcomes), instruments["satisfaction"])
    validated = read_json(snakemake.input.summary)["tables"]["sessions"]
    summary = scoring_summary(session_scores, patient_scores, instruments,
                              validated.get("answers_on_missed_sessions_ignored"))
write_parquet(session_scores, output.session_scores)
write_parquet(patient_scores, output.patient_scores)
write_json(summary, output.scoring_summary)
log.info("%s", summary)

with user_errors_to_console(log):  # from the scores as written, as every later job reads them
    session_scores = pd.read_parquet(output.session_scores)
    tables = build_features(
        pd.read_parquet(snakemake.input.patients),
        pd.read_parquet(snakemake.input.outcomes),
        session_scores,
        patient_scores=pd.read_parquet(output.patient_scores),
        early_window=snakemake.params.early_window,
        rupture_settings=snakemake.params.ruptures,
        total_alpha=criterion_alpha(snakemake.params.ruptures, pd.read_parquet(snakemake.input.sessions),
                                    session_scores, instruments["alliance"]),
    )
for name in ("patients", "sessions", "ruptures"):
    write_parquet(tables[name], output[name])
write_csv(tables["rupture_shares"], output.rupture_shares)
log.info("%d patients, %d sessions", len(tables["patients"]), len(tables["sessions"]))
