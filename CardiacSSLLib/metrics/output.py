"""Writing result files: refuse to overwrite unless asked, never leave half-written files."""

from __future__ import annotations

import math
import numbers
import os
import tempfile
from pathlib import Path

from CardiacSSLLib.errors import InputError, OutputExistsError
from CardiacSSLLib.filemode import set_umask_mode


def prepare_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check ``path`` can be written; create its parent folder. Returns it as a Path."""
    out = Path(path)
    if out.is_dir():
        raise InputError(f"{out} is a folder: give a file name")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder of {out}: {exc}") from exc
    return out


def csv_cell(value, decimals: int = 4):
    """A CSV cell: floats rounded to ``decimals`` (no 15-digit float noise), ``nan`` kept, None empty."""
    if value is None:
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):  # numpy floats too
        return "nan" if math.isnan(value) else repr(round(float(value), decimals))
    return value


def write_atomic(path: str | os.PathLike, data: bytes | str, overwrite: bool = False) -> Path:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    out = prepare_output(path, overwrite)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        set_umask_mode(tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create folder ``path`` if needed and prove it is writable, with a clear error if not."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"cannot write to output folder {out}: {exc.strerror or exc}") from exc
    return out
