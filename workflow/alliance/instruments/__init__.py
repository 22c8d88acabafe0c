"""Instrument registry: the questionnaire definitions (YAML) that every stage reads.

A definition holds item numbers and keys only, never item wording. Shipped definitions live beside this
file (`<key>.yaml`); a user's own instrument is a YAML file of the same format given by path.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from alliance.configuration import schema_problems
from alliance.errors import InstrumentError
from alliance.i18n import N_, Message
from alliance.instruments.schema import INSTRUMENT_SCHEMA

BORDIN = ("bond", "goal", "task")  # the working alliance's dimensions (Bordin 1979)


@dataclass(frozen=True)
class Cutoff:
    """A clinical cut-off on the total: a total below `value` (or at it, when `inclusive`) is flagged."""

    value: float
    inclusive: bool = False

    def flags(self, total: np.ndarray) -> np.ndarray:
        """True where the total is a concern; False where it is not; missing totals are not flagged."""
        rounded = np.round(total, 6)  # decimal item marks: 9.1 + 8.9 + 9 + 9 is exactly 36 here
        return (rounded <= self.value) if self.inclusive else (rounded < self.value)


@dataclass(frozen=True)
class Instrument:
    """A questionnaire: items, response range, reverse keys, subscales and scoring rules."""

    key: str
    name: str
    citation: str
    n_items: int
    minimum: float
    maximum: float
    reverse_keyed: tuple[int, ...]
    subscales: dict[str, tuple[int, ...]]
    score: str
    total: str
    max_missing_per_subscale: int
    integer: bool = True
    cutoff: Cutoff | None = None
    # Bordin's (1979) bond, goal and task, each by its items: the `dimensions` of the definition, else the
    # subscales when they are exactly these three, else none (the instrument does not measure them).
    dimensions: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def item_columns(self) -> list[str]:
        """Column names of the items in the data, `<key>_<nn>`."""
        return [self.item_column(i) for i in range(1, self.n_items + 1)]

    def item_column(self, item: int) -> str:
        """Column name of item number `item`."""
        return f"{self.key}_{item:02d}"

    def subscale_range(self, name: str) -> tuple[float, float]:
        """Smallest and largest possible score of one subscale."""
        factor = len(self.subscales[name]) if self.score == "sum" else 1
        return self.minimum * factor, self.maximum * factor

    @property
    def score_range(self) -> tuple[float, float]:
        """Smallest and largest possible total score."""
        lows, highs = zip(*(self.subscale_range(name) for name in self.subscales), strict=True)
        if self.total == "mean_of_subscales":
            return float(np.mean(lows)), float(np.mean(highs))
        return float(sum(lows)), float(sum(highs))


# The shipped instruments' names (as their definitions spell them), translated to their published names.
PUBLISHED_NAMES = {
    "wai_sr": N_("Working Alliance Inventory - Short Revised (client)"),
    "wai_s": N_("Working Alliance Inventory - Short form"),
    "csq8": N_("Client Satisfaction Questionnaire (CSQ-8)"),
    "srs": N_("Session Rating Scale (SRS v3)"),
    "haq_ii": N_("Helping Alliance Questionnaire II"),
}


def name_in_words(instrument: Instrument) -> Message | str:
    """The instrument's name as a value of a message: a shipped instrument's as a message of its own,
    which the report writes as the published name in its language ("Inventario de Alianza de Trabajo,
    versión breve revisada (WAI-SR)"); any other (a user's definition, a shipped one renamed) as its
    definition spells it."""
    shipped = PUBLISHED_NAMES.get(instrument.key)
    return Message(shipped) if shipped == instrument.name else instrument.name


def shipped_instruments() -> list[str]:
    """Keys of the instruments shipped with the package."""
    folder = resources.files(__package__)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_instrument(key_or_path: str | Path, cutoff: dict | None = None) -> Instrument:
    """Load a shipped instrument by key, or a user's definition from a YAML path.

    `cutoff` ({value, inclusive}) overrides the instrument's cut-off (e.g. the SRS concern rule).
    """
    text_path = str(key_or_path)
    shipped = text_path in shipped_instruments()
    if shipped:
        source = resources.files(__package__).joinpath(f"{text_path}.yaml")
        spec = yaml.safe_load(source.read_text())
        origin = f"shipped instrument '{text_path}'"
    elif text_path.endswith((".yaml", ".yml")) and Path(text_path).exists():
        spec = yaml.safe_load(Path(text_path).read_text())
        origin = text_path
    else:
        raise InstrumentError(
            f"unknown instrument '{text_path}': use one of {', '.join(shipped_instruments())} "
            "or the path of an instrument YAML file (format: workflow/alliance/instruments/README.md)."
        )
    if isinstance(spec, dict) and spec.get("requires_user_key"):
        raise InstrumentError(
            f"{origin}: its subscale map and reverse keys differ between published versions, so none is "
            f"shipped. Copy workflow/alliance/instruments/{spec.get('key')}.yaml, fill in `subscales` and "
            "`reverse_keyed` from the version you used, delete `requires_user_key`, and give the copy's "
            "path in instruments.alliance."
        )
    instrument = _parse(spec, origin, check_form=not shipped)
    if cutoff:
        if instrument.cutoff is None and "value" not in cutoff:
            raise InstrumentError(f"{origin} has no cut-off; set instruments.cutoff_value to define one")
        base = instrument.cutoff or Cutoff(value=float(cutoff["value"]))
        instrument = replace(instrument, cutoff=Cutoff(
            value=float(cutoff.get("value", base.value)),
            inclusive=bool(cutoff.get("inclusive", base.inclusive)),
        ))
        low, high = instrument.score_range
        if not low <= instrument.cutoff.value <= high:  # a reviewer's SRS with 50: every total a concern
            raise InstrumentError(
                f"instruments.cutoff_value {instrument.cutoff.value:g} lies outside the total's range of "
                f"{origin} ({low:g} to {high:g}); give a cut-off within it, or null to keep the instrument's "
                "own")
    return instrument


def load_configured(settings: dict) -> dict[str, Instrument | None]:
    """The instruments named in the config's `instruments` block: alliance, satisfaction, therapist.

    The therapist-rated alliance instrument (optional) needs a key of its own, because item columns are
    named after the key. The cut-off settings (`cutoff_value`, `cutoff_inclusive`) are the patient-rated
    instrument's: the therapist-rated one keeps its definition's (a reviewer's 1-5 therapist form had
    taken the SRS's 36, and flagged 99.96% of its sessions).
    """
    cutoff = {name: settings[f"cutoff_{name}"] for name in ("value", "inclusive")
              if settings.get(f"cutoff_{name}") is not None} or None
    alliance = load_instrument(settings["alliance"], cutoff=cutoff)
    therapist = None
    if settings.get("alliance_therapist"):
        therapist = load_instrument(settings["alliance_therapist"])
        if therapist.key == alliance.key:
            raise InstrumentError(
                f"instruments.alliance_therapist uses the key '{therapist.key}' of the patient-rated "
                "instrument; give it a key of its own (e.g. a copy of the definition with key "
                f"'{therapist.key}_t') so that its item columns can be told apart"
            )
    return {"alliance": alliance, "satisfaction": load_instrument(settings["satisfaction"]),
            "therapist": therapist}


def check_configured_or_exit(settings: dict) -> None:
    """`load_configured` for the Snakefile, when the workflow starts: an instrument that cannot be loaded
    (an unkeyed WAI-S, a reverse key naming no item, a cut-off outside the range) stops the run at once,
    its problem on stderr without a traceback, where it had passed a dry run and stopped the validation
    job with only "CalledProcessError" on the console (a reviewer's probe)."""
    import sys

    try:
        load_configured(settings)
    except InstrumentError as err:
        print(f"\nInvalid instrument: {err}\n", file=sys.stderr)
        sys.exit(1)


def _parse(spec: object, origin: str, check_form: bool = True) -> Instrument:
    """The instrument a definition describes, its form checked first where `check_form` (a user's file:
    `INSTRUMENT_SCHEMA`, every missing, misspelt or malformed field named with an example; the shipped
    ones are checked by the tests, which saves each job importing jsonschema) and then its items
    (subscales, keys, dimensions)."""
    problems = ({} if not check_form else schema_problems(spec, INSTRUMENT_SCHEMA) if isinstance(spec, dict)
                else {"": "not a map of fields (key: value)"})
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise InstrumentError("\n".join([f"{origin} is not an instrument definition ({count}; the fields, "
                                          "with an example, are in workflow/alliance/instruments/README.md):",
                                          *(f"  {line}" for line in problems.values())]))
    n_items = spec["items"]
    subscales = {str(k): tuple(v) for k, v in spec["subscales"].items()}
    instrument = Instrument(
        key=spec["key"],
        name=str(spec.get("name", spec["key"])),
        citation=str(spec.get("citation", "")),
        n_items=n_items,
        minimum=float(spec["response"]["min"]),
        maximum=float(spec["response"]["max"]),
        reverse_keyed=tuple(spec.get("reverse_keyed") or ()),
        subscales=subscales,
        score=spec["score"],
        total=spec["total"],
        max_missing_per_subscale=spec["prorate"]["max_missing_per_subscale"],
        integer=spec["response"].get("integer", True),
        cutoff=Cutoff(float(spec["cutoff"]["value"]), spec["cutoff"].get("inclusive", False))
        if spec.get("cutoff") else None,
        dimensions=({str(k): tuple(v) for k, v in spec["dimensions"].items()} if spec.get("dimensions") else
                    subscales if set(subscales) == set(BORDIN) else {}),
    )
    items = [i for members in subscales.values() for i in members]
    problems = []
    if sorted(set(items)) != list(range(1, n_items + 1)):
        problems.append(f"subscales must cover items 1..{n_items} (they cover {sorted(set(items))})")
    if len(items) != len(set(items)):
        problems.append("an item belongs to more than one subscale")
    if not set(instrument.reverse_keyed) <= set(range(1, n_items + 1)):
        problems.append("reverse_keyed names an item that does not exist")
    if instrument.minimum >= instrument.maximum:
        problems.append("response min must be below max")
    if instrument.dimensions and set(instrument.dimensions) != set(BORDIN):
        problems.append(f"dimensions must map exactly {', '.join(BORDIN)} to items (it names "
                        f"{', '.join(sorted(instrument.dimensions))})")
    mapped = [i for members in instrument.dimensions.values() for i in members]
    if not set(mapped) <= set(range(1, n_items + 1)) or len(mapped) != len(set(mapped)):
        problems.append("dimensions must name existing items, each in at most one dimension")
    if problems:
        raise InstrumentError(f"{origin}: " + "; ".join(problems))
    return instrument
