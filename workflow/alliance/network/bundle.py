"""A site's bundle of aggregates (`make share`): what may leave a site, built from its `results/`, written as
a zip with deterministic bytes, and read back by the coordinator.

The bundle holds tables of aggregates only (ANALYSIS_PLAN.md, section 11):

- `effects.csv`: every row of `results/effects.csv` (its estimate, SE and 95% CI, the numbers of patients
  and therapists; where the therapists are 1 to k - 1, the SE widened to the CI's t(G - 1), which the SE
  and CI would otherwise give away) with, for the primary effects, the SD of the alliance predictor in the
  site's analysis sample and the effect per instrument point (estimate / SD, SE of the per-SD
  coefficient without the SD's own sampling variance / SD; where the SE is widened, the widened SE / SD):
  the metric pooled across sites, since "per SD" is per each site's own SD. The predictor's mean goes
  with its SD, so that the coordinator can put the pooled effect per SD of all sites' patients together
  (the SD of the combined data). An effect resting on fewer than `privacy.min_cell_size` patients is
  `suppressed` (no numbers); the per-discipline rows' counts are withheld, all of them (the report
  withholds the next smallest discipline's beside a suppressed one; two models' rows and totals together
  told a hidden discipline's to a reviewer). Each primary row's SD goes with its sampling variance
  relative to its square, which the pooled effect per SD of all sites' patients needs.
- `statuses.csv`: every planned model's status and reason (`results/models/status.csv`).
- `flows.csv`: each model family's analysis flow, counts of 1 to k - 1 shown as "<k" (with secondary
  suppression of the exclusions, as in the report).
- `reliability.csv`: the alliance and satisfaction instruments' reliability (`results/psychometrics/`).
- `benchmarks.csv`: the like-for-like statistics set beside the meta-analytic benchmarks (dropout d,
  alliance-outcome r; `alliance.models.benchmarks`) with their 95% CIs.
- `provenance.json`: the site label, the instrument (key, name, family, range), the minimum cell size,
  SHA-256 of the configuration (without the data paths and the site label) and of ANALYSIS_PLAN.md,
  software versions and the run's outputs' fingerprints, HMAC-SHA256 keyed by a secret kept at the site
  (`site_key`; not of the row-level tables, of the outputs that write the input files' SHA-256, nor of
  the per-therapist feedback pages, whose names carry pseudonymous codes: `stays_at_site`).
- `WHAT_LEAVES_THE_SITE.md`: every file and column in plain words, for the data-protection officer.

No table has a row per patient, session or therapist; no patient or therapist code is written. Numbers of
1 to k - 1 in the statuses' reasons are written "<k" as well, a session's number ("at session 4") and a count
of disciplines aside; a reason with such a number leaves without its test statistics (`scrub_message`).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np
import pandas as pd
from scipy import stats

from alliance.errors import ConfigError, InputError
from alliance.i18n import SOURCE_LANGUAGE, Message, suppressing_counts, use_language
from alliance.io import json_text, read_json, sha256_file, write_atomic, write_text
from alliance.network.aggregates import (
    AGGREGATES,
    MIN_GROUP,
    MIXED_KEYS,
    SENT,
    WITHHELD_REASONS,
    analysis_samples,
    site_aggregates,
)

# 2: the outputs' fingerprints keyed by the site's secret (outputs_hmac_sha256); 3: aggregates.json; 4: the
# satisfaction model's sums are its within- and between-therapist cross-products (plan version 36)
BUNDLE_FORMAT = 5
SITE_KEY = ".site_key"  # in results/: the secret of the outputs' fingerprints (hidden: not in the manifest)
SENT_SAMPLES = ".one_stage_sent.json"  # in results/: the patients of the one-stage sums last sent (kept here)
SUMMARY = "WHAT_LEAVES_THE_SITE.md"
ENTRIES = ("effects.csv", "statuses.csv", "flows.csv", "reliability.csv", "benchmarks.csv", AGGREGATES,
           "provenance.json", SUMMARY)
# Instruments of one family measure the same construct on the same items' content; per-point pooling
# needs more (the same key and range, `alliance.network.pooling.metric_for`).
FAMILIES = {"wai_sr": "wai", "wai_s": "wai", "srs": "srs", "haq_ii": "haq"}
# The primary effects pooled per instrument point (`predictor_scales`).
PRIMARY_OUTCOMES = ("attendance", "dropout", "satisfaction")
FAMILY_RESULTS = ("adherence", "dropout", "satisfaction", "symptoms", "dimensions", "dynamics")
EFFECT_COLUMNS = ["outcome", "model", "predictor", "scale", "analysis", "status", "estimate", "std_error",
                  "ci_low", "ci_high", "n_patients", "n_therapists", "predictor_mean", "predictor_sd",
                  "predictor_sd_relative_variance", "estimate_per_point", "std_error_per_point"]
EFFECT_KEY = ["outcome", "model", "predictor", "analysis"]
STATUS_COLUMNS = ["key", "hypothesis", "family", "analysis", "outcome", "model", "title", "status", "reason",
                  "flags"]
RELIABILITY_COLUMNS = ["role", "instrument", "scale", "n", "n_items", "alpha", "alpha_ci_low",
                       "alpha_ci_high", "omega"]
BENCHMARK_COLUMNS = ["benchmark", "metric", "estimate", "ci_low", "ci_high", "n", "benchmark_value",
                     "benchmark_ci_low", "benchmark_ci_high", "source"]
SOFTWARE = ("alliance", "numpy", "pandas", "scipy", "statsmodels", "lifelines", "scikit-learn", "snakemake")
SITE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
PATIENT_LIST = "early_warning/patient_list.csv"  # the clinic list (`early_warning.patient_list: true`)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed entry timestamps: the same tables give the same bytes
SUPPRESSED = "suppressed"
ESTIMATED = "estimated"


@dataclass
class Bundle:
    """A site's bundle as read back: its tables and provenance."""

    name: str  # the file it was read from
    effects: pd.DataFrame
    statuses: pd.DataFrame
    flows: pd.DataFrame
    reliability: pd.DataFrame
    benchmarks: pd.DataFrame
    provenance: dict
    aggregates: dict  # per primary outcome, the one-stage analysis' sums (`alliance.network.aggregates`)

    @property
    def site(self) -> str:
        return self.provenance["site"]


def instrument_family(key: str) -> str:
    """The family of an alliance instrument (WAI-SR and WAI-S are both the WAI); another key is its own."""
    return FAMILIES.get(key, key)


def check_site(site: str) -> str:
    """The site label, or a ConfigError naming the key when it is empty or not a safe file name."""
    if not site:
        raise ConfigError("network.site is empty: give this site a label for its bundle, e.g. "
                          "`network: {site: clinic_a}` in your config, or `make share SITE=clinic_a`")
    if not SITE_PATTERN.match(site):
        raise ConfigError(f"network.site is '{site}': use 1 to 40 letters, digits, '_' or '-', starting "
                          "with a letter or digit, e.g. clinic_a")
    return site


def shown(n: float, k: int) -> str:
    """A count as it may leave the site: "<k" for 1 to k - 1, else the number ("" when missing)."""
    if pd.isna(n):
        return ""
    n = int(n)
    return f"<{k}" if 0 < n < k else str(n)


# A whole number in a reason: not part of a decimal or a name (CR3, H2), not a formula's constant
# ("therapists - 1"), and not a threshold of the plan ("fewer than 3", "at least 5").
_COUNT = re.compile(r"(?<![\w.])(?<!than )(?<!least )(?<![-+] )\d+(?![\d.]*\d)")
_THRESHOLD = re.compile(r"(?:(?<=\bthan )|(?<=\bleast ))\d+(?![\d.]*\d)")
# Labels, not counts of people: a session's number ("at session 4", "(sessions 1-3)", "sessions 1, 4 and 7")
# and a count of disciplines ("1 discipline in the analysis sample").
_LABELS = re.compile(r"\bsession \d+|\bsessions \d+(?:(?:-| to )\d+)?(?:, \d+(?=,| and ))*(?: and \d+)?"
                     r"|\b\d+ disciplines?\b")
# What the counts of a reason count: a hidden count takes their plural ("<10 therapist" told it was 1).
_NOUNS = r"(?:patient|therapist|session|questionnaire|dropout|site)"
# A count written as a word before what it counts ("One therapist", "only one patient"), not a ratio.
_NUMBER_WORDS = {word: n for n, word in enumerate(["one", "two", "three", "four", "five", "six", "seven",
                                                   "eight", "nine"], start=1)}
_WORD_COUNT = re.compile(rf"\b(?:only )?({'|'.join(_NUMBER_WORDS)}) ({_NOUNS})s?\b(?! per\b)", re.IGNORECASE)
# A parenthesis (one level of parentheses within) and a test statistic: F, t, z or chi-square on its degrees
# of freedom, or a p-value; in a reason's text or its message's template ("(F({df1}, {df2}) = {f:.2f}, ...)").
_PARENTHESIS = re.compile(r" ?\((?:[^()]|\([^()]*\))*\)")
_DEGREES = re.compile(r"\bdegrees of freedom\)$")
_STATISTIC = re.compile(r"(?:\b(?:F|t|z|chi\^?2|chi\u00b2)|\u03c7\u00b2)\(|\bp [=<>]")


def without_statistics(text: str) -> str:
    """`text` without its test statistics in parentheses (" (F(4, 53) = 0.55, p = .703)") and its ranges of
    degrees of freedom (" (4 to 12 degrees of freedom)"), the words kept: beside a hidden count, a
    statistic's degrees of freedom and p-value would give it back (53 + 5 = 58 patients analysed; F = 0.55
    with p = .703 on 53 df has 4 df above it), and so would the largest discipline's therapists - 1 beside
    all the therapists (20 therapists, "<10 to 14 degrees of freedom": two disciplines of 15 and 5)."""
    return _PARENTHESIS.sub(lambda m: "" if ("=" in m.group() and _STATISTIC.search(m.group()))
                            or _DEGREES.search(m.group()) else m.group(), text)


def _words_hidden(text: str, k: int) -> str:
    """`text` with a count written as a word below k ("One therapist: ...", "only one patient in ...") as
    "<k" (a solo practice's flags had left saying it had one therapist), and "this therapist's" after it
    in the plural; "one patient per therapist" is a ratio, kept."""
    def hide(match: re.Match) -> str:
        return f"<{k} {match.group(2)}s" if _NUMBER_WORDS[match.group(1).lower()] < k else match.group()

    hidden = _WORD_COUNT.sub(hide, text)
    if hidden == text:
        return text
    return re.sub(rf"\bthis ({_NOUNS})'s\b", r"these \1s'", hidden)


def _scrub(text: str, k: int, hidden: bool) -> str:
    """`scrub_text`, with `hidden` when a count of the text was hidden already (a `Count` written "<k")."""
    original, text = text, _words_hidden(text, k)
    hidden = hidden or text != original
    parts = _LABELS.split(text)  # the text between labels, which stay as written
    labels = [*_LABELS.findall(text), ""]
    scrubbed = "".join(_COUNT.sub(lambda m: f"<{k}" if 0 < int(m.group()) < k else m.group(), part) + label
                       for part, label in zip(parts, labels, strict=True))
    scrubbed = re.sub(rf"<{k} {_NOUNS}\b(?!s)", lambda m: m.group() + "s", scrubbed)  # "<10 therapist": 1
    if scrubbed == text and not hidden:
        return original
    scrubbed = re.sub(rf"<{k} \(\d+(?:\.\d+)?%\)", f"<{k}", without_statistics(scrubbed))  # and its share
    return _THRESHOLD.sub(lambda m: "the plan's minimum" if 0 < int(m.group()) < k else m.group(), scrubbed)


def scrub_text(text: object, k: int) -> str:
    """A reason or flag with every whole number of 1 to k - 1 written "<k": counts, and degrees of freedom
    such as t(2), which give a count away; not a decimal, a name (CR3), a label (a session's number, "at
    session 4", "sessions 1-3"; a count of disciplines) or a formula's constant. Once a count is hidden, its
    share ("<10 (5.2%)") and the text's test statistics in parentheses (`without_statistics`) go too, and
    a threshold below k ("fewer than 3") reads "the plan's minimum": "<10 therapists (fewer than 3)" would
    tell it is 1 or 2."""
    return _scrub(text, k, hidden=False) if isinstance(text, str) else ""


def _whole_numbers(data: object) -> list[int]:
    """The whole numbers among a message's values (`Message.to_json` data), nested messages' too."""
    if isinstance(data, dict):
        return [n for value in data.get("values", {}).values() for n in _whole_numbers(value)]
    if isinstance(data, list):
        return [n for item in data for n in _whole_numbers(item)]
    return [data] if isinstance(data, int) and not isinstance(data, bool) else []


def _statistics_dropped(data: object) -> object:
    """A message's data with every template's test statistics left out (`without_statistics`)."""
    if isinstance(data, list):
        return [_statistics_dropped(item) for item in data]
    if not isinstance(data, dict):
        return data
    return data | {key: without_statistics(data[key]) for key in ("template", "plural") if key in data} \
        | {"values": {name: _statistics_dropped(value) for name, value in data["values"].items()}}


def scrub_message(data: str, k: int) -> str:
    """A reason or flag from its message (status.csv's `reason_message`, JSON text), with small numbers
    hidden by the data's types: its counts (`Count`) written "<k" as the report writes them, a share with
    them; where any whole number of the message is 1 to k - 1, its test statistics are left out of the
    templates; the rest as `scrub_text` (a hidden count's noun in the plural: "<10 therapist" told 1)."""
    message = json.loads(data)
    hidden = any(0 < n < k for n in _whole_numbers(message))
    if hidden:
        message = _statistics_dropped(message)
    with use_language(SOURCE_LANGUAGE), suppressing_counts(k):
        text = Message.from_json(message).render()
    return _scrub(text, k, hidden)


def predictor_scales(features: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """Per primary outcome: its alliance predictor, the predictor's mean and SD in the primary model's
    analysis sample and Var(SD) / SD^2 (the part of a per-SD SE that is the SD's own sampling variance)."""
    # Deferred: the bundle is built where the models ran; the coordinator reads bundles without loading them.
    from alliance.models.adherence import attendance_design
    from alliance.models.dropout import dropout_design
    from alliance.models.satisfaction import satisfaction_design

    designs = dict(zip(PRIMARY_OUTCOMES, (attendance_design, dropout_design, satisfaction_design),
                       strict=True))
    rows = []
    for outcome, make_design in designs.items():
        design = make_design(features, covariates)
        values = design.data[design.predictor] if len(design.data) else pd.Series(dtype=float)
        sd = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        rows.append({"outcome": outcome, "predictor": design.predictor, "predictor_sd": sd,
                     "predictor_mean": float(values.mean()) if len(values) else float("nan"),
                     "relative_variance": design.scale_variance.get(design.predictor, float("nan"))})
    return pd.DataFrame(rows)


def per_point(effects: pd.DataFrame, scales: pd.DataFrame) -> pd.DataFrame:
    """The primary effect rows per instrument point: estimate / SD and SE_z / SD, with SE_z^2 = SE^2 -
    b^2 Var(SD) / SD^2 the SE of the per-SD coefficient without the SD's sampling variance (inverting
    `alliance.models.common.per_sd_wald`); other rows get none."""
    primary = effects["analysis"].eq("primary")
    table = effects.merge(scales, on=["outcome", "predictor"], how="left")
    table.loc[~primary.to_numpy(), ["predictor_mean", "predictor_sd", "relative_variance"]] = np.nan
    se_z = np.sqrt(np.clip(table["std_error"] ** 2 - table["estimate"] ** 2 * table["relative_variance"],
                           0, None))
    table["estimate_per_point"] = table["estimate"] / table["predictor_sd"]
    table["std_error_per_point"] = se_z / table["predictor_sd"]
    return table.rename(columns={"relative_variance": "predictor_sd_relative_variance"})


def interval_ratio(estimate, std_error, ci_low, ci_high) -> np.ndarray:
    """How much wider than +/- 1.96 SE a site's own 95% CI is, where that CI is a Wald interval about the
    estimate (symmetric): t(G - 1) / 1.96 for a model with G therapist clusters (2.19 with 3 therapists,
    1.07 with 20); 1 for any other interval (a bootstrap's) or a narrower one. Multiplied into the SE,
    it weighs a site as wide as its own report shows it: the SE its CI implies, (high - low) / (2 x 1.96),
    as the benchmarks are pooled."""
    estimate, std_error, low, high = (np.asarray(v, dtype=float)
                                      for v in (estimate, std_error, ci_low, ci_high))
    z = float(stats.norm.ppf(0.975))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (high - low) / (2 * z * std_error)
        wald = np.abs((high + low) / 2 - estimate) <= 1e-6 * np.maximum(1.0, high - low)
    return np.where(wald & np.isfinite(ratio) & (ratio > 1), ratio, 1.0)


def effects_table(effects: pd.DataFrame, scales: pd.DataFrame, k: int) -> pd.DataFrame:
    """The bundle's effects: every effect row, per SD and (primary) per point; rows resting on fewer than
    `k` patients suppressed, and the counts of every per-discipline row withheld ("suppressed"; the report
    withholds only the next smallest discipline's beside a suppressed one,
    `alliance.report.analysis.withheld_counts`). Where the therapists are hidden (1 to k - 1, or
    withheld) and the CI is on t(G - 1), the SE is sent widened to that interval (`interval_ratio`): the
    CI over the SE would otherwise be t(G - 1) and give G away; the pooling weighs such a site by the same
    SE as before. Its per-point SE is then the widened SE over the SD, the SD's sampling term kept: SE_z /
    SD widened by the same ratio r would give r away, as SE^2 - (SD SE_point)^2 = r^2 b^2 Var(SD) / SD^2
    with b, SD and n sent."""
    from alliance.report.analysis import withheld_counts  # deferred as the models (`predictor_scales`)

    table = per_point(effects, scales)
    # A per-discipline row's counts never leave (estimate and SE do): the report withholds them model by model
    # (`withheld_counts`), but two models' rows and totals together told a reviewer a hidden discipline's
    # 7 patients and 4 therapists (attendance's 334 patients minus dropout's disciplines); pooling needs none.
    per_group = table["predictor"].str.contains(" [", regex=False).to_numpy()
    withheld = table.index.isin(list(withheld_counts(table, k))) | (per_group & (table["n_patients"] >= k))
    hidden = table["n_therapists"].between(1, k - 1).to_numpy() | withheld
    ratio = interval_ratio(table["estimate"], table["std_error"], table["ci_low"], table["ci_high"])
    widened = hidden & (ratio > 1)
    table["std_error"] = table["std_error"] * np.where(widened, ratio, 1.0)
    table["std_error_per_point"] = table["std_error_per_point"].where(
        ~widened, table["std_error"] / table["predictor_sd"])
    small = table["n_patients"] < k
    numbers = ["estimate", "std_error", "ci_low", "ci_high", "predictor_mean", "predictor_sd",
               "predictor_sd_relative_variance", "estimate_per_point", "std_error_per_point"]
    table.loc[small, numbers] = np.nan
    table["status"] = np.where(small, SUPPRESSED, ESTIMATED)
    for column in ("n_patients", "n_therapists"):
        table[column] = np.where(withheld, SUPPRESSED, [shown(n, k) for n in table[column]])
    return table[EFFECT_COLUMNS]


def statuses_table(status: pd.DataFrame, k: int) -> pd.DataFrame:
    """Every planned model's status, its reason and flags in English with small numbers written "<k", from
    their messages (`scrub_message`) where status.csv has them, else from the text (`scrub_text`)."""
    table = status.reindex(columns=STATUS_COLUMNS).copy()
    for column in ("reason", "flags"):
        messages = status.get(f"{column}_message", pd.Series(np.nan, index=status.index))
        table[column] = [scrub_message(data, k) if isinstance(data, str) and data else scrub_text(text, k)
                         for text, data in zip(table[column], messages, strict=True)]
    return table


def flows_table(results: dict[str, dict], k: int) -> pd.DataFrame:
    """Each model family's analysis flow, its counts suppressed as in the report (`flow_steps`), without
    thousands separators."""
    from alliance.report.cohort import flow_steps  # deferred as the models (`predictor_scales`)

    rows = [{"family": family, "order": i + 1, "step": step, "n": n.replace(",", "")}
            for family, result in results.items()
            for i, (step, n) in enumerate(flow_steps(result.get("flow", []), k))]
    return pd.DataFrame(rows, columns=["family", "order", "step", "n"])


def reliability_table(reliability: pd.DataFrame, k: int) -> pd.DataFrame:
    """Reliability of each instrument's scales; a scale scored in fewer than `k` patients without numbers."""
    table = reliability.reindex(columns=RELIABILITY_COLUMNS).copy()
    small = table["n"] < k
    table.loc[small, ["alpha", "alpha_ci_low", "alpha_ci_high", "omega"]] = np.nan
    table["n"] = [shown(n, k) for n in table["n"]]
    return table


def benchmarks_table(results: dict[str, dict], k: int) -> pd.DataFrame:
    """The benchmark comparisons of the model families (dropout d, alliance-outcome r), each with its 95% CI
    and sample size; one resting on fewer than `k` patients, or on 1 to `k` - 1 dropouts or completers
    (which d and its CI give away; `alliance.models.benchmarks.withheld`), without numbers."""
    from alliance.models.benchmarks import withheld  # deferred as the models (`predictor_scales`)

    rows = [result["extra"]["benchmark"] for result in results.values()
            if isinstance(result.get("extra", {}).get("benchmark"), dict)]
    small = np.array([withheld(row, k) for row in rows], dtype=bool)
    table = pd.DataFrame(rows).reindex(columns=BENCHMARK_COLUMNS)
    table.loc[small, ["estimate", "ci_low", "ci_high"]] = np.nan
    table["n"] = [shown(n, k) for n in table["n"]]
    return table.sort_values("benchmark", kind="stable").reset_index(drop=True)


# The configuration's sections that decide the estimates; the others (where the data are, the site's label,
# the report's language, feedback pages, the synthetic cohort, the simulation, disclosure) may differ
# between sites that run the same analysis.
ANALYSIS_SECTIONS = ("instruments", "features", "ruptures", "psychometrics", "models", "sensitivity",
                     "dimensions", "early_warning")


def analysis_settings(config: dict) -> dict[str, str]:
    """The analysis settings of a run's configuration (`ANALYSIS_SECTIONS`) by dotted key
    ("models.covariates"), each value as JSON: what two sites' bundles are compared on. A path (a user's
    instrument definition) is kept by its file name only: the site's folders do not leave it."""
    def flat(value: object, prefix: str) -> dict[str, str]:
        if isinstance(value, dict) and value:
            return {key: text for name, item in value.items()
                    for key, text in flat(item, f"{prefix}.{name}").items()}
        if isinstance(value, str) and ("/" in value or "\\" in value):
            value = PurePath(value.replace("\\", "/")).name
        return {prefix: json.dumps(value, sort_keys=True, default=str)}
    return {key: text for section in ANALYSIS_SECTIONS if section in config
            for key, text in flat(config[section], section).items()}


def config_digest(config: dict) -> str:
    """SHA-256 of the run's analysis settings (`analysis_settings`): the same for every site that runs the
    same analysis, whatever its data, label, report language or synthetic cohort."""
    return hashlib.sha256(json.dumps(analysis_settings(config), sort_keys=True).encode()).hexdigest()


def site_key(results: Path) -> bytes:
    """The site's secret that keys the fingerprints a bundle sends (`results/.site_key`, 32 random bytes
    written at the first `make share` and kept; it never leaves the site, and the manifest does not list
    it). With it the site can show which files a bundle came from; without it a fingerprint confirms no
    guess: a plain SHA-256 of a small table of counts had let a reviewer try every split of a cohort's
    150 patients into four rupture patterns until one matched, the report's "<10" included."""
    path = results / SITE_KEY
    if not path.exists():
        write_atomic(path, lambda target: target.write_text(secrets.token_hex(32) + "\n"))
        path.chmod(0o600)  # a secret: readable by its owner only
    return bytes.fromhex(path.read_text().strip())


def keyed_fingerprint(key: bytes, path: Path) -> str:
    """HMAC-SHA256 of the file at `path` under the site's `key` (`site_key`)."""
    return hmac.new(key, path.read_bytes(), hashlib.sha256).hexdigest()


def provenance(manifest: dict, *, site: str, plan_sha256: str, instrument: dict,
               fingerprints: dict[str, str]) -> dict:
    """The bundle's provenance: site, instrument, settings, hashes and software versions; `fingerprints`
    the keyed fingerprints of the outputs (`keyed_fingerprint`) by path."""
    config = manifest["config"]
    packages = manifest["environment"]["packages"]
    return {
        "bundle_format": BUNDLE_FORMAT,
        "site": site,
        "instrument": instrument,
        "min_cell_size": config["privacy"]["min_cell_size"],
        "settings": {"early_window": config["features"]["early_window"],
                     "covariates": config["models"]["covariates"],
                     "satisfaction_instrument": config["instruments"]["satisfaction"],
                     "symptom_measure": (config["report"].get("symptom_measure") or {}).get("name", ""),
                     "min_clusters": config["models"]["min_clusters"]},
        "analysis_settings": analysis_settings(config),
        "config_sha256": config_digest(config),
        "plan_sha256": plan_sha256,
        "software": {"python": manifest["environment"]["python"]}
                    | {name: packages[name] for name in SOFTWARE if name in packages},
        "outputs_hmac_sha256": dict(sorted(fingerprints.items())),
    }


def stays_at_site(path: str) -> bool:
    """Whether the fingerprint of the output at `path` (relative to results/) stays at the site: a table
    with a row per patient or session, a name with a pseudonymous code (the feedback pages, the clinic
    list), or an output that writes the input files' own SHA-256 (the validation's outputs, the report's
    "Inputs"). A fingerprint of any of them confirms a guess about any cell of the data (whoever knows
    all but one patient's rows can try the last one's values until it matches), cells that no aggregate
    uses included."""
    return (path.endswith(".parquet") or path.startswith(("feedback/", "validated/", "report."))
            or path == PATIENT_LIST)


def instrument_info(key_or_path: str) -> dict:
    """The alliance instrument as the bundle names it: key, name, family, item range and scoring."""
    from alliance.instruments import load_instrument  # deferred as the models (`predictor_scales`)

    instrument = load_instrument(key_or_path)
    return {"key": instrument.key, "name": instrument.name, "family": instrument_family(instrument.key),
            "minimum": instrument.minimum, "maximum": instrument.maximum, "score": instrument.score,
            "total": instrument.total}


COLUMN_WORDS = {
    "effects.csv": {
        "outcome, model, predictor, scale, analysis": "which effect of the analysis plan the row is",
        "status": "estimated, or suppressed (it rests on fewer patients than the minimum cell size: "
                  "no numbers)",
        "estimate, std_error, ci_low, ci_high": "the effect per SD of alliance, its standard error and "
                                                "95% CI; where the therapists are \"<k\", the standard "
                                                "error as wide as the CI (which is on t with therapists - 1 "
                                                "degrees of freedom), so that the two do not give their "
                                                "number away",
        "n_patients, n_therapists": "how many patients and therapists the effect rests on (\"<k\" when "
                                    "1 to k - 1; \"suppressed\" for every per-discipline effect, whose "
                                    "counts two models' totals and rows together would otherwise give)",
        "predictor_mean, predictor_sd": "primary effects: the mean and SD of the alliance score in the "
                                        "analysed patients",
        "predictor_sd_relative_variance": "primary effects: the sampling variance of that SD over its "
                                          "square (therapist-clustered), which the per-SD standard error "
                                          "holds and the pooled effect per SD of all sites' patients needs",
        "estimate_per_point, std_error_per_point": "primary effects: the effect per point of the alliance "
                                                   "instrument and its standard error (the metric pooled; "
                                                   "where the therapists are \"<k\", the standard error "
                                                   "per SD over the SD, so that the two standard errors do "
                                                   "not give the number away either)",
    },
    "statuses.csv": {
        "key, hypothesis, family, analysis, outcome, model, title": "which model of the analysis plan",
        "status": "fitted, boundary, not_estimable, not_converged, separation or refused",
        "reason, flags": "why a model has no estimate, and warnings, in words (numbers of 1 to k - 1 "
                         "as \"<k\", except a session's number, such as \"at session 4\", and a count of "
                         "disciplines; where a number is hidden, without the test statistics beside it)",
    },
    "flows.csv": {
        "family, order, step": "each step of a model family's analysis flow (e.g. \"excluded: no outcome\")",
        "n": "the number of patients (or sessions) at that step; \"<k\" for 1 to k - 1, \"suppressed\" where "
             "it would let a hidden count be recovered",
    },
    "reliability.csv": {
        "role, instrument, scale, n_items": "the questionnaire and scale",
        "n": "patients with a complete first questionnaire (\"<k\" for 1 to k - 1)",
        "alpha, alpha_ci_low, alpha_ci_high, omega": "internal consistency (no numbers when n < k)",
    },
    "benchmarks.csv": {
        "benchmark, metric, source": "which published meta-analysis and the statistic compared with it",
        "estimate, ci_low, ci_high": "the site's statistic (a d or an r) and its 95% CI",
        "n": "the patients it rests on (\"<k\" for 1 to k - 1: then no numbers)",
        "benchmark_value, benchmark_ci_low, benchmark_ci_high": "the published value",
    },
    "provenance.json": {
        "site, bundle_format, min_cell_size": "the site's label, the bundle's format and the minimum cell "
                                              "size",
        "instrument, settings": "the alliance instrument and the analysis settings (early window, "
                                "covariates, satisfaction instrument, the symptom measure's name)",
        "analysis_settings": "every setting that decides the estimates (instruments, features, ruptures, "
                             "psychometrics, models, sensitivity, dimensions, early_warning), by key",
        "config_sha256, plan_sha256": "fingerprints of those settings and of the analysis plan",
        "software": "the versions of Python and the main packages",
        "outputs_hmac_sha256": "a fingerprint of each output file of aggregates of the run (not the files "
                               "themselves), keyed by a secret that stays at the site (results/.site_key): "
                               "with it the site can show which files the bundle came from; without it a "
                               "fingerprint confirms no guess about the data. The tables with a row per "
                               "patient or session, the outputs that write the data files' own fingerprints "
                               "(the validation's, the report) and the therapists' feedback pages have none",
    },
}


AGGREGATE_WORDS = (
    "Sent only where the site enabled them (network.one_stage, off by default, or make share "
    "ONE_STAGE=1). For each primary model (attendance, dropout, satisfaction), the sums from which the "
    "coordinator computes the analysis of all sites' patients in one model without their rows "
    "(ANALYSIS_PLAN.md, section 11): the model's parameters (alliance per point, each numeric covariate "
    "per unit, each category against this site's first level); for the logistic models (attendance, "
    "dropout) their estimates, the information matrix (a weighted sum over patients of the products of "
    "their predictors) and the sums of the triple products; for the satisfaction model the sums of squares "
    "and products of its predictors and the satisfaction total, split into their part within therapists "
    "and their part between therapists (each therapist's patients' means, weighted by n / (1 + n x 0.0526) "
    "for a therapist of n patients, summed over the site's therapists); the outer product of the scores "
    "summed by therapist, each therapist's residuals adjusted for what the site's own fit absorbs of them "
    "(CR2; the two "
    "therapists of a group that has exactly two counting as one, whose entries of the group are then 0); "
    "the numbers of patients, therapists and such clusters; each categorical covariate's reference level. "
    "A group is a category of a categorical covariate (a discipline) or a value of a numeric covariate with"
    " fewer than 10 distinct values. A category of fewer than {least} patients in a model's sample is "
    "counted with the sample's largest category of its covariate before the sums are made, and the "
    "bundle says which covariates were so collapsed (\"merged\"; the levels its parameters list tell "
    "which category is missing). A model is "
    "withheld, with its reason, when its sample has fewer than {k} patients or therapists, when a group or "
    "a cell of two groups crossed has fewer than {least} patients, when the site's own model was not "
    "fitted,{few_therapists} and when the model's patients "
    "differ from those of any sums this site wrote before by 1 to {least_less} added, removed or with "
    "another row, in all, within a group or within a cell of two groups crossed, a patient counted in "
    "their own category even where it was collapsed (the difference of two sets of sums describes the "
    "patients between them, and a group's column of it theirs in that group: the site keeps "
    "the patients of what it wrote, with a digest of each one's row, in results/.one_stage_sent.json, and "
    "without that file, after results/ was removed, it cannot check; it assumes the patients keep their "
    "codes from one export to the next; combinations of three or more shares are not checked, so share "
    "the sums sparingly). What the sums tell: for the satisfaction model, each group's and each "
    "cell of two groups' number of patients (each at least {least}) and each group's mean "
    "satisfaction, alliance and baseline severity, approximately (exactly for a group that is one "
    "therapist's patients), the site's sums of their squares and products within therapists, and how the "
    "therapists' patients' means vary together across the site's therapists; for the logistic models "
    "each group's number and means approximately and their adjusted "
    "outcome levels (the categories' coefficients); where a discipline has one therapist, all of this "
    "describes that therapist's patients, and so does the difference of two shares between which one "
    "therapist's patients (10 or more) came or went. Where a category was collapsed, someone who knows "
    "its patients' alliance and severity can work out, from the sums and the site's effect (which kept the "
    "category apart), the outcome of a category of one patient, and for dropout that of a category of a "
    "few. The rules answer four reviewers' attempts to single out a "
    "patient from these sums; they are not a proof that no combination of sums can, which is why the "
    "sums are off by default: read them with the data-protection officer before enabling them.")


FEW_THERAPISTS_WORDS = (
    " for the satisfaction model when a covariate, one of its levels or a combination of covariates "
    "varies among the patients of 1 to {k_less} therapists only (its within-therapist sums would describe "
    "them; combinations confined to two or more such therapists are not checked),")


def what_leaves(site: str, tables: dict[str, pd.DataFrame], k: int, aggregates: dict | None = None) -> str:
    """The plain-words summary of the bundle for the data-protection officer: every file and column."""
    effects = tables["effects.csv"]
    lines = [
        f"# What leaves the site: bundle of site '{site}'",
        "",
        "This bundle holds aggregates only: estimates, standard errors, counts and fingerprints. It holds no "
        "row per patient, session or therapist, no patient or therapist code, no dates, no free text from "
        f"the data. Every count of 1 to {k - 1} patients is written \"<{k}\" (minimum cell size {k}); an "
        f"effect resting on fewer than {k} patients is sent without numbers.",
        "",
        "Counts are hidden one at a time, so a hidden count can still be worked out from others: patients "
        "as the cohort minus a model's patients analysed (flows.csv, effects.csv n_patients), or from two "
        "models' patients analysed where one sample lies within the other (no discipline's patients or "
        "therapists are sent: two models' totals and disciplines together told a hidden one's). Read "
        "effects.csv and flows.csv with this in mind before the bundle leaves the site. (A hidden number "
        "of therapists is not given away by an effect's 95% CI, which is on t with therapists - 1 degrees "
        "of freedom: its standard error is sent as wide as that CI; nor by a reason's test statistic: where "
        "a reason holds a count of 1 to k - 1, its test statistics (F, t or chi-square with their degrees of "
        "freedom and p-value) and ranges of degrees of freedom are left out and its words kept.)",
        "",
        "| file | rows | what it is |",
        "|---|---|---|",
        f"| effects.csv | {len(effects)} | every estimated alliance effect "
        f"({int((effects['status'] == SUPPRESSED).sum())} suppressed) |",
        f"| statuses.csv | {len(tables['statuses.csv'])} | every planned model's status and reason |",
        f"| flows.csv | {len(tables['flows.csv'])} | the analysis flow of each model family |",
        f"| reliability.csv | {len(tables['reliability.csv'])} | the questionnaires' reliability |",
        f"| benchmarks.csv | {len(tables['benchmarks.csv'])} | the statistics compared with published "
        "meta-analyses |",
        f"| {AGGREGATES} | - | per primary model, the sums the network's one-stage analysis needs "
        "(below) |",
        "| provenance.json | - | label, instrument, settings, fingerprints, software versions |",
        f"| {SUMMARY} | - | this summary |",
        "",
        "## Columns",
    ]
    for name, columns in COLUMN_WORDS.items():
        lines += ["", f"### {name}", ""] + [f"- `{column}`: {words}" for column, words in columns.items()]
    lines += ["", f"### {AGGREGATES}", "",
              AGGREGATE_WORDS.format(
                  k=k, least=max(k, MIN_GROUP), least_less=max(k, MIN_GROUP) - 1,
                  few_therapists=FEW_THERAPISTS_WORDS.format(k_less=k - 1) if k > 1 else ""), ""]
    for outcome, entry in (aggregates or {}).items():
        sent = entry["status"] == SENT
        lines.append(f"- {outcome}: " + (f"sent ({len(entry['parameters'])} parameters)" if sent
                                         else f"withheld: {WITHHELD_REASONS[entry['reason']]}"))
    return "\n".join(lines) + "\n"


def csv_bytes(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False, float_format="%.10g", lineterminator="\n").encode()


def build_bundle(results: Path, plan: Path, site: str | None = None, one_stage: bool = False
                 ) -> tuple[str, dict[str, bytes]]:
    """The site label and the bundle's files (name -> bytes) from a finished run's `results/`, with the
    hash of the analysis plan the run recorded; `site` overrides the run's `network.site`, `one_stage`
    True sends the one-stage sums whatever the run's `network.one_stage` (off by default). Refuses
    (InputError) when the run is not finished, its tables changed since its manifest, or the run's plan
    is not `plan` (the checkout's: the bundle would claim a plan its results did not follow), and when the
    plan or `results` is missing."""
    if not plan.is_file():
        raise InputError(f"{plan}: no such file (the analysis plan the run followed): run make share in the "
                         "repository's folder, or pass --plan PATH/ANALYSIS_PLAN.md")
    if not results.is_dir():
        raise InputError(f"{results}: no such folder (a finished run's results/): run the workflow first "
                         "(make run), or pass --results PATH")
    manifest_path = results / "manifest.json"
    if not manifest_path.exists():
        raise InputError(f"{manifest_path} is missing: run the workflow to the end first (make run)")
    manifest = read_json(manifest_path)
    run_plan = manifest["inputs"].get("plan", {}).get("sha256")
    if run_plan is None:
        raise InputError(f"the run in {results} recorded no analysis plan (it predates the plan's hash in "
                         "the manifest): run the workflow again (make run) before make share")
    if run_plan != sha256_file(plan):
        raise InputError(f"the run in {results} followed another version of the analysis plan than {plan} "
                         "(changed since the run): run the workflow again (make run) before make share")
    config = manifest["config"]
    label = check_site(site or config.get("network", {}).get("site", ""))
    k = int(config["privacy"]["min_cell_size"])
    used = ["effects.csv", "models/status.csv", "psychometrics/reliability.csv", "features/patients.parquet",
            *(f"models/{family}/result.json" for family in FAMILY_RESULTS)]
    for name in used:
        entry = manifest["outputs"].get(name)
        if entry is None or not (results / name).exists() or sha256_file(results / name) != entry["sha256"]:
            raise InputError(f"results/{name} is missing or changed since the run's manifest: run the "
                             "workflow again (make run) before make share")
    effects = pd.read_csv(results / "effects.csv")
    features = pd.read_parquet(results / "features/patients.parquet")
    statuses = pd.read_csv(results / "models/status.csv")
    scales = predictor_scales(features, config["models"]["covariates"])
    families = {family: read_json(results / f"models/{family}/result.json") for family in FAMILY_RESULTS}
    tables = {
        "effects.csv": effects_table(effects, scales, k),
        "statuses.csv": statuses_table(statuses, k),
        "flows.csv": flows_table(families, k),
        "reliability.csv": reliability_table(pd.read_csv(results / "psychometrics/reliability.csv"), k),
        "benchmarks.csv": benchmarks_table(families, k),
    }
    key = site_key(results)
    fingerprints = {name: keyed_fingerprint(key, results / name) for name in manifest["outputs"]
                    if not stays_at_site(name)}
    info = provenance(manifest, site=label, plan_sha256=run_plan, fingerprints=fingerprints,
                      instrument=instrument_info(config["instruments"]["alliance"]))
    files = {name: csv_bytes(table) for name, table in tables.items()}
    enabled = one_stage or bool(config.get("network", {}).get("one_stage", False))
    aggregates = site_aggregates(features, config["models"]["covariates"], statuses, k, enabled=enabled,
                                 previous=sent_samples(results))
    files[AGGREGATES] = json_text(aggregates).encode()
    files["provenance.json"] = json_text(info).encode()
    files[SUMMARY] = what_leaves(label, tables, k, aggregates).encode()
    return label, files


def sent_samples(results: Path) -> dict[str, list[dict[str, list[str]]]]:
    """Per primary model, the patients (with their rows' digests and groups) of every set of one-stage sums
    this site sent (`remember_sent`; results/.one_stage_sent.json, never in a bundle); {} before the
    first. A record of plan version 36 has digests without groups: its patients count in all only."""
    path = results / SENT_SAMPLES
    kept = read_json(path) if path.exists() else {}
    return {outcome: [{patient: [row] if isinstance(row, str) else row for patient, row in sample.items()}
                      for sample in samples] for outcome, samples in kept.items()}


def remember_sent(results: Path, files: dict[str, bytes]) -> None:
    """Before a bundle is written: add the patients of each model whose sums it holds, with their rows'
    digests (`alliance.network.aggregates.analysis_samples`), to those of the sums written before (a
    sample written again is kept once), so that a later `make share` can refuse sums over almost the same
    patients, or the same with a few changed rows, as any of them (`site_aggregates`' `previous`: the
    difference of two sets of exact sums describes the patients between them). Recorded first, so that a
    bundle is never out without its record. Kept in results/ with the site's key: removing results/
    forgets them; a trial `make share` counts as sent."""
    sent = [outcome for outcome, entry in json.loads(files[AGGREGATES]).items() if entry["status"] == SENT]
    if not sent:
        return
    config = read_json(results / "manifest.json")["config"]
    samples = analysis_samples(pd.read_parquet(results / "features/patients.parquet"),
                               config["models"]["covariates"])
    kept = sent_samples(results)
    for outcome in sent:
        kept[outcome] = [*(s for s in kept.get(outcome, []) if s != samples[outcome]), samples[outcome]]
    write_atomic(results / SENT_SAMPLES, lambda target: target.write_text(json_text(kept)))


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """The files as a zip with sorted entries, fixed timestamps and permissions: deterministic bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name], compresslevel=9)
    return buffer.getvalue()


def write_bundle(site: str, files: dict[str, bytes], out: Path) -> Path:
    """Write `out`/<site>.zip and, beside it, `out`/<site>_WHAT_LEAVES_THE_SITE.md (atomically)."""
    path = out / f"{site}.zip"
    data = zip_bytes(files)
    write_atomic(path, lambda p: p.write_bytes(data))
    write_text(files[SUMMARY].decode(), out / f"{site}_{SUMMARY}")
    return path


def read_bundle(path: Path) -> Bundle:
    """A bundle read back; InputError when the file is not a bundle of this format."""
    what = "(a site's bundle is results/share/<site>.zip, made by make share)"
    try:
        with zipfile.ZipFile(path) as archive:
            files = {name: archive.read(name) for name in archive.namelist()}
    except FileNotFoundError:
        raise InputError(f"{path}: no such file {what}") from None
    except zipfile.BadZipFile:
        raise InputError(f"{path}: not a zip file {what}") from None
    except OSError as error:  # a folder, no permission: the system's words ("Permission denied")
        raise InputError(f"{path}: cannot be read, {error.strerror.lower()} {what}") from None
    missing = [name for name in ENTRIES if name not in files]
    if missing:
        raise InputError(f"{path}: not a site bundle of `make share` (missing {', '.join(missing)})")
    info = json.loads(files["provenance.json"])
    if info.get("bundle_format") != BUNDLE_FORMAT:
        raise InputError(f"{path}: bundle format {info.get('bundle_format')}, this version reads "
                         f"{BUNDLE_FORMAT}: share again with the same version of the pipeline")

    def table(name: str) -> pd.DataFrame:
        return pd.read_csv(io.BytesIO(files[name]), keep_default_na=False, na_values=[""])

    lacking = [column for column in EFFECT_COLUMNS if column not in table("effects.csv")]
    if lacking:
        raise InputError(f"{path}: its effects.csv lacks {', '.join(lacking)}: share again with the same "
                         "version of the pipeline")
    aggregates = json.loads(files[AGGREGATES])
    if not aggregates_readable(aggregates):
        raise InputError(f"{path}: its {AGGREGATES} is not of this version's form: share again with the same "
                         "version of the pipeline")
    return Bundle(str(path), table("effects.csv"), table("statuses.csv"), table("flows.csv"),
                  table("reliability.csv"), table("benchmarks.csv"), info, aggregates)


SENT_KEYS = {"predictor", "parameters", "references", "n_patients", "n_therapists", "n_clusters", "merged",
             "meat"}
LOGISTIC_KEYS = {"estimate", "information", "third"}
# the sums of each model besides SENT_KEYS
OUTCOME_KEYS = {"attendance": LOGISTIC_KEYS, "dropout": LOGISTIC_KEYS, "satisfaction": MIXED_KEYS}


def aggregates_readable(aggregates: object) -> bool:
    """Whether a bundle's aggregates.json has this version's form: per primary outcome, a sent entry with
    every sum of its model (`SENT_KEYS`, `OUTCOME_KEYS`) or a withheld one with a known reason."""
    if not isinstance(aggregates, dict) or not set(aggregates) <= set(PRIMARY_OUTCOMES):
        return False

    def readable(outcome: str, entry: object) -> bool:
        if not isinstance(entry, dict):
            return False
        if entry.get("status") == SENT:
            return set(entry) >= SENT_KEYS | OUTCOME_KEYS[outcome]
        return entry.get("status") == "withheld" and entry.get("reason") in WITHHELD_REASONS

    return all(readable(outcome, entry) for outcome, entry in aggregates.items())
