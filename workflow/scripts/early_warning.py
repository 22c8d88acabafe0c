"""Early warning of dropout from the alliance (ANALYSIS_PLAN.md, section 10): the decision-point rows and
their flow, the models and cut-off rules validated out of sample by therapist, the measures with their
therapist-bootstrap CIs, the decision curve and calibration bins; and, only when asked
(early_warning.patient_list), the clinic's list of patients still in treatment."""

import pandas as pd

from alliance.configuration import primary_decision_point
from alliance.instruments import load_configured
from alliance.io import write_csv, write_json
from alliance.prediction.decision_points import (
    decision_rows,
    latest_rows,
    suppressed_flow,
)
from alliance.prediction.early_warning import early_warning_analysis, patient_list
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
output, params = snakemake.output, snakemake.params
with user_errors_to_console(log):
    settings = dict(params.settings)
    points = sorted(int(k) for k in settings["decision_points"])
    settings["primary_session"] = primary_decision_point(settings, params.early_window)  # checked at start
    instrument = load_configured(params.instruments)["alliance"]
    session_scores = pd.read_parquet(snakemake.input.session_scores)
    patients = pd.read_parquet(snakemake.input.features)
    covariates = list(params.covariates)
    rows, flow = decision_rows(session_scores, patients, points, covariates, params.rupture_c)
    analysis = early_warning_analysis(rows, settings, covariates=covariates, instrument=instrument,
                                      min_cell_size=params.min_cell_size, flow=flow)
    result = analysis["result"]
    if settings["patient_list"]:
        latest = latest_rows(session_scores, patients, points, covariates, params.rupture_c)
        listed, note = patient_list(rows, latest, result, instrument=instrument,
                                    therapist_patients=patients["therapist_id"].value_counts(),
                                    min_cell_size=params.min_cell_size, penalty=settings["penalty"],
                                    seed=settings["seed"])
        result["patient_list"] = note
write_json(result, output.result)
write_csv(analysis["measures"], output.measures)
write_csv(analysis["decision_curve"], output.decision_curve)
write_csv(analysis["calibration"], output.calibration)
write_csv(analysis["roc"], output.roc)
write_csv(suppressed_flow(flow, params.min_cell_size), output.flow)
if settings["patient_list"]:
    write_csv(listed, output.patient_list[0])  # a list: empty unless early_warning.patient_list
    log.info("patient list: %(patients_listed)d patients; %(therapists_left_out)d therapists left out", note)
for status in result["statuses"]:
    log.info("%(key)s: %(status)s %(reason)s", status)
log.info("verdict: %s", result["verdict"])
