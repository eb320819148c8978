"""Reading a site's study zip as hostile input, and writing CSV that a spreadsheet will not execute.

:func:`read_zip_members` trusts nothing in the archive: the zip's own size, the member count, every member name
(only ``manifest.json``, ``spec.json`` and ``<analysis id>.csv``, each once; no folders, no absolute or ``..``
paths, no links) and the decompressed size of each member and of all together, counted while streaming (the
sizes the zip's headers claim are not believed), so a small zip that expands to gigabytes is refused after at
most the limit has been read. :func:`csv_bytes` escapes cells starting with ``= + - @``, tab or carriage return
(spreadsheet formulas, OWASP "CSV injection") unless they are plain numbers.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import zipfile
import zlib
from pathlib import Path

import pandas as pd

from rcdm.csv_safe import escape_cell, escape_frame
from rcdm.errors import StudyMergeError


@dataclasses.dataclass(frozen=True)
class ZipLimits:
    """Limits on one site's zip: the archive's size, members, and decompressed bytes per member and in all."""

    max_zip_bytes: int = 50_000_000
    max_members: int = 60
    max_member_bytes: int = 20_000_000
    max_total_bytes: int = 100_000_000


try:
    import lzma

    _LZMA_ERRORS: tuple[type[BaseException], ...] = (lzma.LZMAError,)
except ImportError:  # a Python built without lzma cannot read such members at all
    _LZMA_ERRORS = ()

MEMBER_NAME = re.compile(r"^(manifest\.json|spec\.json|[a-z][a-z0-9_]{0,62}\.csv)$")
_CHUNK = 1 << 16


def read_zip_members(path: str | os.PathLike[str], limits: ZipLimits = ZipLimits()) -> dict[str, bytes]:
    """The members of a site's zip, name → bytes, after every check above; StudyMergeError otherwise."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StudyMergeError(f"Cannot read study results {path}: {exc.strerror or exc}") from None
    if not path.is_file():
        raise StudyMergeError(f"{path} is not a file.")
    if size > limits.max_zip_bytes:
        raise StudyMergeError(f"{path} is {size} bytes, more than a study zip may be ({limits.max_zip_bytes}).")
    files: dict[str, bytes] = {}
    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > limits.max_members:
                raise StudyMergeError(f"{path} has {len(infos)} members, more than {limits.max_members}.")
            for info in infos:
                name = info.filename
                if not MEMBER_NAME.match(name):
                    raise StudyMergeError(f"{path} holds a member named {name[:80]!r}: only manifest.json, "
                                          "spec.json and <analysis id>.csv may be in a study zip.")
                if name in files:
                    raise StudyMergeError(f"{path} holds {name!r} twice.")
                if info.is_dir() or (info.external_attr >> 28) == 0o12:  # a folder or a symbolic link
                    raise StudyMergeError(f"{path}: {name!r} is not a regular file.")
                chunks, member = [], 0
                with archive.open(info) as handle:
                    while True:
                        chunk = handle.read(_CHUNK)
                        if not chunk:
                            break
                        member += len(chunk)
                        total += len(chunk)
                        if member > limits.max_member_bytes:
                            raise StudyMergeError(f"{path}: {name!r} expands to more than "
                                                  f"{limits.max_member_bytes} bytes; refused.")
                        if total > limits.max_total_bytes:
                            raise StudyMergeError(f"{path} expands to more than {limits.max_total_bytes} bytes; "
                                                  "refused.")
                        chunks.append(chunk)
                files[name] = b"".join(chunks)
    except StudyMergeError:
        raise
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, RuntimeError, ValueError,
            NotImplementedError, zlib.error, *_LZMA_ERRORS) as exc:  # damaged, encrypted, unknown method, bad CRC
        raise StudyMergeError(f"Cannot read study results {path}: {exc}") from None
    return files


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as UTF-8 CSV (no index, ``\\n`` line ends), every formula-like text cell escaped."""
    buffer = io.StringIO()
    escape_frame(frame).to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode("utf-8")


def write_inside(out_dir: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to ``out_dir/name``; ``name`` must be a plain file name that stays inside ``out_dir``."""
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,80}", name) or name in (".", ".."):
        raise StudyMergeError(f"Refusing to write {name[:80]!r}: not a plain file name.")
    target = (out_dir / name).resolve()
    if target.parent != out_dir.resolve():
        raise StudyMergeError(f"Refusing to write {name!r} outside {out_dir}.")
    target.write_bytes(data)
    return target


__all__ = ["MEMBER_NAME", "StudyMergeError", "ZipLimits", "csv_bytes", "escape_cell",
           "read_zip_members", "write_inside"]
