"""Prediction: does the alliance predict who will drop out, well enough to act on (ANALYSIS_PLAN.md,
section 10, "Early warning")? Decision-point data with no look-ahead (`decision_points`), the measures
of a risk prediction and of a rule (`measures`) and the early-warning analysis itself, penalised
logistic models and cut-off rules validated out of sample by therapist (`early_warning`)."""
