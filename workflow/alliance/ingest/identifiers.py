"""The identifying-data guard: columns that look like direct identifiers, by name and by content.

A column is refused when its *name* or its *content* looks like one of the kinds below (English, Spanish
and Catalan names). Findings name the column and the kind, never a value; `redact` and `redact_text` keep
values that look identifying out of every message that quotes data (validation problems, reader errors).

Content rules (each on the distinct non-empty values of a text or integer column):

- e-mail: any value with `local@domain.tld`;
- exact date: any full date (year, month and day; ISO, day/month/year with `/ . -`, or a month name);
  date-typed columns always. The data contract has no date column, so every exact date is refused;
- national identity number: Spanish DNI (8 digits + letter) and NIE (X/Y/Z + 7 digits + letter) whose
  letter is the mod-23 check letter, NHS numbers (10 digits) whose last digit is the modulus-11 check
  digit, US SSN (`123-45-6789`). DNI/NIE and NHS count when at least half of the values of that shape pass
  the check (random codes of the same shape pass about 1 time in 23 or 11);
- phone number: international (`+34 612 345 678`, `0044 ...`), national with separators (9-11 digits in
  groups), bare Spanish (9 digits starting 6-9) or UK (0 + 9-10 digits) numbers; bare numbers are not
  counted in pseudonymous code columns (`id_columns`);
- street address: a street word (calle, c/, avda., carrer, passeig, plaza ...; street, road, avenue, lane
  ...) with a house number; UK postcodes (`SW1A 1AA`, with the space); Spanish postcodes when every value
  of a non-code text column is a 5-digit code 01000-52999 (at least two distinct values);
- name: values of 2-5 alphabetic words, one of them a common given name (English, Spanish, Catalan), and
  no institution word (hospital, clinic, centro, san, ...): flagged when such values are at least 20% of
  the distinct values or there are 3 of them; a column of single given names (at least 3 distinct, half of
  the values) also counts;
- free-text notes: any value of at least 8 words and 40 characters, or of 100 characters or more.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Collection, Iterable

import numpy as np
import pandas as pd

from alliance.i18n import N_

# The kinds of identifier, as the validation problems say them (translated where they are shown).
NAME = N_("a name")
EMAIL = N_("an e-mail address")
PHONE = N_("a phone number")
ADDRESS = N_("an address or postcode")
BIRTH = N_("a date of birth")
DATE = N_("an exact date")
NATIONAL_ID = N_("a national identity number")
RECORD = N_("a medical record number")
FREE_TEXT = N_("free-text notes")
KINDS = (NAME, EMAIL, PHONE, ADDRESS, BIRTH, DATE, NATIONAL_ID, RECORD, FREE_TEXT)

# ---- Column names (normalised: accents stripped, camelCase split, lower case, words joined by "_") --------
NAME_WORDS = {
    "name", "names", "firstname", "lastname", "surname", "surnames", "forename", "forenames",
    "givenname", "familyname", "fullname", "maidenname", "middlename", "initials", "nombre", "nombres",
    "apellido", "apellidos", "iniciales", "nom", "noms", "cognom", "cognoms", "inicials", "nome",
}
# "name" words next to one of these describe a thing, not a person (site_name, redcap_event_name).
NOT_PERSONAL = {
    "site", "clinic", "clinica", "centre", "center", "centro", "hospital", "event", "instrument", "form",
    "file", "study", "service", "servicio", "servei", "unit", "unidad", "unitat", "group", "grupo", "grup",
    "program", "programme", "programa", "discipline", "disciplina", "scale", "escala", "questionnaire",
    "cuestionario", "questionari", "test", "measure", "item", "variable", "sheet",
    "department", "departamento", "treatment", "tratamiento", "tractament", "therapy", "terapia",
    "diagnosis", "diagnostico", "drug", "medication", "medicamento", "farmaco", "redcap", "arm",
    "institution", "organisation", "organization", "project", "proyecto", "projecte", "field", "column",
    "country", "pais", "city", "ciudad", "ciutat", "sede", "seu", "area",
}
NAME_PATTERNS = {
    EMAIL: r"(^|_)(e_?mail|mail|email_?address|correo|correu|correo_electronico|correu_electronic)($|_)",
    PHONE: r"(^|_)(phone|phones|telephone|tel|telf|tlf|mobile|cell|cellphone|telefono|telefon|movil|"
    r"mobil|fax|phone_?number|contact_?number)($|_)",
    ADDRESS: r"(^|_)(address|addr|street|direccion|domicilio|domicili|adreca|calle|carrer|post_?code|"
    r"postal_?code|zip|zip_?code|codigo_postal|codi_postal|cp|c_p)($|_)",
    BIRTH: r"(^|_)(dob|birth|birth_?date|birthday|date_of_birth|nacimiento|naixement|nac|naix|fnac)($|_)",
    NATIONAL_ID: r"(^|_)(nhs|nhs_?number|nhs_?no|ssn|social_security|dni|nie|nif|passport|pasaporte|"
    r"passaport|national_?id|national_?insurance|ni_?number|nino|insurance_?number|nss|nuss|"
    r"tarjeta_sanitaria|targeta_sanitaria|tsi|cip|documento_identidad|document_identitat)($|_)",
    RECORD: r"(^|_)(mrn|nhc|historia_clinica|historia|medical_record|medical_record_number|"
    r"hospital_?number|hospital_no|chi_number|record_number)($|_)",
    DATE: r"(^|_)(date|dates|fecha|fechas|datetime|timestamp)($|_)",
    FREE_TEXT: r"(^|_)(notes?|comments?|free_?text|observaciones|observacion|observacions|notas?|"
    r"comentarios?|comentaris?|remarks?|description|descripcion|texto|narrative)($|_)",
}

# ---- Cell contents ---------------------------------------------------------------------------------
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
MONTHS = (r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|ene|abr|ago|dic|gen|febr|abril|"
          r"mayo|maig|junio|juny|julio|juliol|agosto|agost|set|octubre|noviembre|novembre|diciembre|"
          r"desembre|enero|gener|febrero|febrer|marzo|marc|junio|january|february|march|april|june|"
          r"july|august|september|october|november|december)[a-z]*\.?")
DATE_RES = (
    re.compile(r"^\s*(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?:[ T].*)?$"),
    re.compile(r"^\s*(?P<d>\d{1,2})[-/.](?P<m>\d{1,2})[-/.](?P<y>\d{4}|\d{2})(?:[ T].*)?$"),
    re.compile(rf"^\s*\d{{1,2}}(?:st|nd|rd|th)?[\s.-]+(?:de\s+)?{MONTHS}[\s.,-]+(?:de\s+)?\d{{2,4}}\s*$",
               re.IGNORECASE),
    re.compile(rf"^\s*{MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\s*$", re.IGNORECASE),
)
DNI_RE = re.compile(r"^\s*(?P<num>\d{8})[\s-]?(?P<letter>[A-Za-z])\s*$")
NIE_RE = re.compile(r"^\s*(?P<prefix>[XYZxyz])[\s-]?(?P<num>\d{7})[\s-]?(?P<letter>[A-Za-z])\s*$")
NHS_RE = re.compile(r"^\s*(\d{3})[\s-]?(\d{3})[\s-]?(\d{4})\s*$")
SSN_RE = re.compile(r"^\s*(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\s*$")
DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
PHONE_INTERNATIONAL = re.compile(r"^\s*(?:\+|00)\d{1,3}[\s.-]?(?:\(?\d{1,4}\)?[\s.-]?){1,5}\d{2,4}\s*$")
PHONE_GROUPED = re.compile(r"^\s*\(?\d{2,5}\)?(?:[\s.-]\d{2,6}){1,4}\s*$")
DECIMAL = re.compile(r"^\s*[+-]?\d+[.,]\d+\s*$")
PHONE_BARE = re.compile(r"^\s*(?:[6789]\d{8}|0\d{9,10})\s*$")
STREET_ES = re.compile(
    r"^\s*(c/|c\.|cl\.?|calle|carrer|avda\.?|avd\.?|avenida|av\.|avinguda|pza\.?|plaza|pl\.|placa|plaça|"
    r"paseo|passeig|pg\.|pº|ronda|rambla|camino|cami|camí|travesia|travesía|travessera|carretera|ctra\.?|"
    r"urbanizacion|urbanización|urb\.)\s*\S.*\d", re.IGNORECASE)
STREET_EN = re.compile(
    r"\b\d+[a-z]?,?\s+(?:[a-z'.-]+\s+){0,4}(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|way|"
    r"court|ct|place|crescent|terrace|boulevard|blvd|square|sq|grove|gardens|mews)\b\.?", re.IGNORECASE)
UK_POSTCODE = re.compile(r"^\s*[A-Za-z]{1,2}\d[A-Za-z\d]?\s+\d[A-Za-z]{2}\s*$")
ES_POSTCODE = re.compile(r"^\s*(?:0[1-9]|[1-4]\d|5[0-2])\d{3}\s*$")
WORD_RE = re.compile(r"^[^\W\d_](?:[^\W\d_]|['’.-])*$")
FREE_TEXT_WORDS, FREE_TEXT_CHARS, FREE_TEXT_LONG = 8, 40, 100

# Common given names (English, Spanish, Catalan), lower case without accents; used only for name content.
_GIVEN = """
aaron adam adrian agnes agustin aina aitana aitor alba albert alberto alejandra alejandro aleix alex
alexander alexandra alfonso alfredo alice alicia alison amanda amelia amy ana andrea andreu andres andrew
angel angela angels anna anne annie anthony antoni antonia antonio arnau arturo assumpta barbara beatriz
ben benjamin bernat berta blanca brian carla carles carlos carme carmen carol carolina catherine cesar
charles charlotte chloe chris christian christine christopher clara claudia cristian cristina daniel
daniela david diana diego dolores dolors dominic donald dorothy eduard eduardo elena elisa
elizabeth ellie emily emma enric enrique eric ernest esperanza esteban ester esther eugenia eva felipe
fernando francesc francisca francisco gabriel gemma george georgia gerard gloria gonzalo grace gregorio
guillem guillermo hannah harry helen helena hector hugo ian ignacio immaculada ines irene isaac isabel
isabella ismael ivan jack jacob jaime james jane janet jaume javier jennifer jessica joan joaquim
joaquin joel john jordi jorge jose josefa joseph josep juan julia julian julie karen kate katherine
kevin laia laura lauren lea leo leonor linda lisa lluis lluisa lola lorena lorenzo louise lucas lucia
luis luisa luke manuel manuela marc marcos margaret margarita maria mariano marina mario marta martha
martin mary matthew mercedes merce michael miguel miquel mireia monica montserrat nadia natalia
nerea nicholas nicolas noelia nuria olga oliver olivia oriol oscar pablo paola patricia patrick pau
paul paula pedro pere peter pilar rachel rafael ramon raquel raul rebecca ricard ricardo richard robert
roberto rocio rosa rosario ruben ruth salvador samuel sandra santiago sara sarah sergi sergio silvia
simon sofia sophie stephen susan susana teresa thomas tomas valentina vanessa vicente victor
victoria william xavier yolanda
"""
GIVEN_NAMES = frozenset(_GIVEN.split())
INSTITUTION_WORDS = {
    "hospital", "clinic", "clinica", "clinico", "centro", "centre", "center", "cap", "csm", "unidad",
    "unitat", "servicio", "servei", "san", "santa", "sant", "st", "saint", "sao", "consorci", "consorcio",
    "fundacio", "fundacion", "foundation", "instituto", "institut", "institute", "university",
    "universidad", "universitat", "trust", "practice", "surgery", "salud", "salut", "north", "south",
    "east", "west", "norte", "sur", "este", "oeste", "nord", "sud", "est", "oest", "mental", "health",
    "general", "mutua", "mutual", "policlinica", "ambulatorio", "team", "equipo", "equip",
}


def normalise_name(name: object) -> str:
    """A column name as lower-case ASCII words joined by "_" (accents stripped, camelCase split)."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", str(name).strip())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _plain(word: str) -> str:
    return unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode("ascii").lower().strip(".")


def name_kind(column: object) -> str | None:
    """The kind of identifier a column's name suggests, or None."""
    name = normalise_name(column)
    words = set(name.split("_"))
    joined = name.replace("_", "")
    if (words & NAME_WORDS or joined in NAME_WORDS) and not words & NOT_PERSONAL:
        return NAME
    return next((kind for kind, pattern in NAME_PATTERNS.items() if re.search(pattern, name)), None)


def dni_valid(value: str) -> bool:
    """Whether a value is a Spanish DNI or NIE with the right check letter (mod 23)."""
    match = DNI_RE.match(value)
    if match:
        number = match["num"]
    else:
        match = NIE_RE.match(value)
        if not match:
            return False
        number = "XYZ".index(match["prefix"].upper()).__str__() + match["num"]
    return DNI_LETTERS[int(number) % 23] == match["letter"].upper()


def _dni_shape(value: str) -> bool:
    return bool(DNI_RE.match(value) or NIE_RE.match(value))


def nhs_valid(value: str) -> bool:
    """Whether 10 digits (spaces or dashes allowed as 3-3-4) carry a valid NHS modulus-11 check digit."""
    match = NHS_RE.match(value)
    if not match:
        return False
    digits = [int(c) for c in "".join(match.groups())]
    check = 11 - sum(d * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True)) % 11
    check = 0 if check == 11 else check
    return check != 10 and check == digits[9]


def _is_date(value: str) -> bool:
    for pattern in DATE_RES[:2]:
        match = pattern.match(value)
        if match:
            day, month = int(match["d"]), int(match["m"])
            us = pattern is DATE_RES[1] and 1 <= month <= 31 and 1 <= day <= 12  # month/day/year
            return (1 <= day <= 31 and 1 <= month <= 12) or us
    return any(pattern.match(value) for pattern in DATE_RES[2:])


def _digits(value: str) -> int:
    return sum(c.isdigit() for c in value)


def _is_phone(value: str, id_column: bool) -> bool:
    n = _digits(value)
    if PHONE_INTERNATIONAL.match(value) and 8 <= n <= 15:
        return True
    if id_column:  # codes may be digits in groups; only a number with a country prefix counts there
        return False
    grouped = PHONE_GROUPED.match(value) and 9 <= n <= 12 and not _is_date(value)
    return bool((grouped and not DECIMAL.match(value)) or PHONE_BARE.match(value))


def _is_address(value: str) -> bool:
    return bool(STREET_ES.match(value) or STREET_EN.search(value) or UK_POSTCODE.match(value))


def _words(value: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", value.strip()) if w]


def _is_full_name(value: str) -> bool:
    words = _words(value)
    if not 2 <= len(words) <= 5 or not all(WORD_RE.match(w) for w in words):
        return False
    plain = [_plain(w) for w in words]
    return any(w in GIVEN_NAMES for w in plain) and not any(w in INSTITUTION_WORDS for w in plain)


def _is_free_text(value: str) -> bool:
    text = value.strip()
    return len(text) >= FREE_TEXT_LONG or (len(text) >= FREE_TEXT_CHARS
                                             and len(text.split()) >= FREE_TEXT_WORDS)


def _distinct_text(values: pd.Series) -> list[str] | None:
    """Distinct non-empty values of a column as text, or None when the column holds no text to inspect."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_float_dtype(values):
        return None
    if pd.api.types.is_integer_dtype(values):
        return [str(v) for v in pd.unique(values.dropna())]
    if not (values.dtype == object or pd.api.types.is_string_dtype(values)
            or isinstance(values.dtype, pd.CategoricalDtype)):
        return None
    out = []
    for value in pd.unique(values.dropna().astype(object)):
        if isinstance(value, dt.date | dt.datetime | pd.Timestamp | np.datetime64):
            out.append("2000-01-01")  # any date object is an exact date
        elif isinstance(value, float | np.floating | bool | np.bool_):
            continue
        else:
            text = str(value).strip()
            if text:
                out.append(text)
    return out


def content_kind(values: pd.Series, id_column: bool = False) -> str | None:
    """The kind of identifier a column's values look like, or None (see the module docstring)."""
    if pd.api.types.is_datetime64_any_dtype(values) or isinstance(values.dtype, pd.PeriodDtype):
        return DATE if values.notna().any() else None
    distinct = _distinct_text(values)
    if not distinct:
        return None
    if any(EMAIL_RE.search(v) for v in distinct):
        return EMAIL
    if any(_is_date(v) for v in distinct):
        return DATE
    if any(SSN_RE.match(v) for v in distinct):
        return NATIONAL_ID
    for shape, valid in ((_dni_shape, dni_valid), (lambda v: bool(NHS_RE.match(v)), nhs_valid)):
        shaped = [v for v in distinct if shape(v)]
        passed = sum(valid(v) for v in shaped)
        if passed and passed >= 0.5 * len(shaped):
            return NATIONAL_ID
    if any(_is_phone(v, id_column) for v in distinct):
        return PHONE
    if any(_is_address(v) for v in distinct):
        return ADDRESS
    if (not id_column and len(distinct) >= 2 and not pd.api.types.is_integer_dtype(values)
            and all(ES_POSTCODE.match(v) for v in distinct)):
        return ADDRESS
    names = sum(_is_full_name(v) for v in distinct)
    if names and (names >= 3 or names >= 0.2 * len(distinct)):
        return NAME
    given = sum(_plain(v) in GIVEN_NAMES for v in distinct)
    if given >= 3 and given >= 0.5 * len(distinct):
        return NAME
    if any(_is_free_text(v) for v in distinct):
        return FREE_TEXT
    return None


def find_identifiers(
    df: pd.DataFrame, id_columns: Collection[str] = (), allowed: Collection[str] = (),
) -> list[tuple[str, str]]:
    """Columns that look identifying, by name or by content, as (column, kind). Values are never returned.

    `id_columns` hold pseudonymous codes (bare digit strings there are not taken for phone numbers or
    postcodes); `allowed` columns (the config's allow-list) are skipped.
    """
    found = []
    for position, column in enumerate(df.columns):
        if column in allowed:
            continue
        kind = name_kind(column)
        if kind is None:
            kind = content_kind(df.iloc[:, position], id_column=column in id_columns)
        if kind is not None:
            found.append((str(column), kind))
    return found


def value_kind(value: object) -> str | None:
    """The kind of identifier a single value looks like, or None (for redacting quoted values)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, dt.date | dt.datetime | pd.Timestamp | np.datetime64):
        return DATE
    text = str(value).strip()
    if EMAIL_RE.search(text):
        return EMAIL
    if _is_date(text):
        return DATE
    if SSN_RE.match(text) or dni_valid(text) or nhs_valid(text) or _dni_shape(text):
        return NATIONAL_ID
    if _is_phone(text, id_column=False):
        return PHONE
    if _is_address(text):
        return ADDRESS
    if _is_full_name(text) or _plain(text) in GIVEN_NAMES:
        return NAME
    if _is_free_text(text) or len(text) > 40:
        return FREE_TEXT
    return None


def redact(value: object) -> str:
    """A value as it may be quoted in a message: itself, or a placeholder when it looks identifying
    (`redact_text` also hides identifiers inside a longer value)."""
    kind = value_kind(value)
    return f"<hidden: looks like {kind}>" if kind else str(value)


SCRUB = (
    (EMAIL_RE, EMAIL),
    (re.compile(r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b|\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b"), DATE),
    (re.compile(r"\b[XYZxyz]?\d{7,8}[\s-]?[A-Za-z]\b"), NATIONAL_ID),
    (re.compile(r"(?:\+|\b00)\d[\d\s().-]{7,}\d|\b\d[\d\s().-]{7,}\d\b"), PHONE),
)


def redact_text(text: str) -> str:
    """A message with any e-mail address, date, ID-like or phone-like number in it replaced."""
    for pattern, kind in SCRUB:
        text = pattern.sub(f"<hidden: {kind}>", text)
    return text


def examples(values: Iterable[object], limit: int = 3) -> str:
    """Up to `limit` distinct values, quoted and redacted, for a message ("'a', 'b'")."""
    shown: list[str] = []
    for value in values:
        text = repr(redact_text(redact(value)))
        if text not in shown:
            shown.append(text)
        if len(shown) == limit:
            break
    return ", ".join(shown)
