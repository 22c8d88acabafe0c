"""Reading the exports and validating them against the data contract (the validate stage)."""
