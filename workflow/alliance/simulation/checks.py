"""What the make-target checks share (`make check-dimensions`, `check-invariance`, `check-dynamics`,
`check-early-warning`, `check-pooling`): their command line and the files they write.

Each check draws cohorts from the synthetic generator under a known truth, analyses them as the workflow
does and summarises how often the truth is found; it writes, under `--out` (results/validation/), every
replication (`<name>_replications.csv`), the summary (`<name>.csv`) and the summary as Markdown
(`<name>.md`, also printed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

from alliance.io import write_csv, write_text

OUT = Path("results/validation")


CONFIG = Path("config.yaml")


def cohorts(value: str) -> int:
    """A number of cohorts for a check's option: a whole number, at least 1 (a summary of no cohorts has
    nothing to say)."""
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of cohorts, got '{value}'") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"at least 1 cohort is needed, got {count}")
    return count


def check_parser(description: str, *, seed: int, config: Path = CONFIG) -> argparse.ArgumentParser:
    """The options every check takes: `--config` (the workflow's config, whose generator is used),
    `--replications` (cohorts per condition), `--seed` (of the first cohort) and `--out`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=Path, default=config)
    parser.add_argument("--replications", type=cohorts, default=100)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--out", type=Path, default=OUT)
    return parser


def read_config(path: Path) -> dict:
    """The config file at `path`, as a dict."""
    return yaml.safe_load(Path(path).read_text())


def write_check(name: str, out: Path, replications: pd.DataFrame, summary: pd.DataFrame, text: str) -> None:
    """Write a check's replications, summary and Markdown `text` under `out`, and print `text`."""
    out.mkdir(parents=True, exist_ok=True)
    write_csv(replications, out / f"{name}_replications.csv")
    write_csv(summary, out / f"{name}.csv")
    write_text(text, out / f"{name}.md")
    print(text)
