"""Therapeutic alliance and adherence, dropout and satisfaction.

Pure functions on pandas DataFrames, used by the Snakemake rules, the tests and the notebooks alike.
"""

__version__ = "0.1.0"
