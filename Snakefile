# Therapeutic alliance and adherence, dropout and satisfaction.
# Thin entry point: configuration, validation, rule includes and the default target.
# All logic lives in the `alliance` package (workflow/alliance/); see README.md.

from pathlib import Path

from snakemake.utils import min_version

from alliance.configuration import check_config_or_exit
from alliance.instruments import check_configured_or_exit

min_version("9.0")


# ---- Configuration ---------------------------------------------------------------------------

configfile: Path(workflow.basedir) / "config.yaml"


# One line per problem (key, value given, what is expected) and exit status 1; defaults filled in.
check_config_or_exit(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
check_configured_or_exit(config["instruments"])  # the instruments, once the config's form is right


# ---- Rules -----------------------------------------------------------------------------------


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/scores.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/prediction.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/simulation.smk"


# ---- Targets ---------------------------------------------------------------------------------


onstart:
    if config["report"]["pdf"] and not BROWSER:
        print(NO_BROWSER, file=sys.stderr)


rule all:
    default_target: True
    input:
        rules.fit_models.output.effects,
        rules.report.output,
        # optional: the report as PDF and its first screen (config report.pdf; needs headless Chromium)
        rules.report_pdf.output if config["report"]["pdf"] and BROWSER else [],
        # optional: per-therapist feedback pages (config feedback.therapists)
        rules.therapist_feedback.output if config["feedback"]["therapists"] else [],
        # optional: the clinic list of risks (config early_warning.patient_list; never in the report)
        rules.early_warning.output.patient_list,
