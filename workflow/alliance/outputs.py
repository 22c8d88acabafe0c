"""Names of the workflow's multi-file outputs, importable by the Snakefile without heavy imports."""

FIGURES = ("at_a_glance", "alliance_trajectories", "subscale_distributions", "forest_plot",
           "item_distributions", "factor_loadings", "reliability_by_sessions", "rupture_trajectories",
           "kaplan_meier", "marginal_effects", "therapist_caterpillar", "dimensions", "dynamics",
           "invariance", "early_warning")
# The figures drawn from the models' results (in the report job); the others with the psychometrics.
MODEL_FIGURES = ("at_a_glance", "forest_plot", "kaplan_meier", "marginal_effects", "dimensions", "dynamics",
                 "early_warning")
PSYCHOMETRIC_TABLES = ("reliability", "item_statistics", "item_distribution", "cfa_fit", "cfa_parameters",
                       "therapist_icc", "reliability_by_sessions", "agreement", "invariance",
                       "invariance_parameters", "notes")
# The early-warning tables the report reads (results/early_warning/<name>.csv) beside its result.json.
EARLY_WARNING_TABLES = ("measures", "roc", "calibration", "decision_curve", "flow")
