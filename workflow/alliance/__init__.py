"""Therapeutic alliance and adherence, dropout and satisfaction.

Pure functions on pandas DataFrames, used by the Snakemake rules, the tests and the notebooks alike. The
folders are the data flow, each stage importing only earlier ones (tests/test_layout.py):

- foundations: `errors` (every error class and fit status), `io`, `configuration`, `outputs`,
  `instruments` (questionnaire definitions and item scoring), `stats` (the estimators written here);
- `ingest` (read and validate) -> `scoring` -> `measurement` -> `features` -> `models` -> `report`;
- `simulation` (synthetic cohort, simulation study) and `runtime` (run tooling) use the stages.
"""

__version__ = "0.1.0"
