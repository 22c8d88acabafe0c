"""Reading the exports and validating them against the data contract (the validate stage)."""

# The disciplines of the data contract (`contract`), here so that the report names them without loading
# pandera for a tuple.
DISCIPLINES = ("psychotherapy", "physiotherapy", "osteopathy", "nutrition", "other")
