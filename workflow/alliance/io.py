"""Reading and writing tables: formats chosen by extension, outputs written atomically. pandas is imported
where a table is read: a job that only writes a file (the PDF's) does not load it (0.6 s)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call `write` on a temporary file beside `path`, then rename it into place (permissions per umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    """Write a table as Parquet (no index), atomically."""
    write_atomic(path, lambda p: df.to_parquet(p, index=False))


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write a table as CSV with a fixed float format, atomically (byte-identical across runs)."""
    write_atomic(path, lambda p: df.to_csv(p, index=False, float_format="%.10g", lineterminator="\n"))


def as_stored(value: float) -> float:
    """`value` as `write_csv` stores it and pandas reads it back: rounded to 10 significant digits."""
    return float(f"{value:.10g}")


def write_json(obj: Any, path: str | Path) -> None:
    """Write `json_text(obj)`, atomically."""
    write_atomic(path, lambda p: p.write_text(json_text(obj)))


def json_text(obj: Any) -> str:
    """`obj` as strict JSON (RFC 8259): sorted keys, indented, numpy scalars as numbers, and an undefined
    number (NaN, an infinity) as null, which Python's own `NaN` is not to jq, R's jsonlite or a browser."""
    return json.dumps(json_ready(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"


def json_ready(value: Any) -> Any:
    """`value` with numpy scalars and arrays as Python values and every non-finite float (NaN, an infinite
    Rubin df) as None: what `json_text` writes, for a result that is also used before it is written."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if hasattr(value, "tolist") and type(value).__module__ == "numpy":  # a numpy scalar or array
        return json_ready(value.tolist())
    return value


def write_text(text: str, path: str | Path) -> None:
    """Write a text file atomically."""
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def read_tables(paths: Iterable[str | Path]) -> dict[str, pd.DataFrame]:
    """CSV outputs keyed by file stem; a file without columns (an empty table) reads as an empty frame."""
    import pandas as pd

    tables = {}
    for path in paths:
        try:
            tables[Path(path).stem] = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            tables[Path(path).stem] = pd.DataFrame()
    return tables


def read_json(path: str | Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
