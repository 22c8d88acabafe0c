# Shared values and input functions (named get_*).

ENV = "../../environment.yml"
MODEL_FAMILIES = ["adherence", "dropout", "satisfaction"]
TABLES = ["patients", "sessions", "outcomes"]


def get_table(table):
    """Path of one contract table, as configured."""
    return config["data"][table]


def get_tables(wildcards):
    """The three contract tables, as configured."""
    return {table: get_table(table) for table in TABLES}
