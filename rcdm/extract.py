"""From a cohort to its images: query the R-CDM tables for a cohort's images, write a manifest, copy or link files.

``get_cohort_images`` runs ``inst/sql/sql_server/GetCohortImages.sql`` (OHDSI SQL that R's SqlRender renders
unchanged). Filter values are rendered into the SQL text, as SqlRender does, so every value is checked here
first against a strict pattern or a fixed vocabulary, never passed through as free text. Arguments are plain
values, so R (through reticulate) can call this directly: strings, character vectors, doubles; a single string
where a list is expected is accepted, and so is a comma-separated string.

``materialize`` lays the files out as ``person_<id>/study_<occurrence id>/series_<series id>/<file name>``,
verifies every copy (size and SHA-256 equal to the source), never overwrites a different file, and treats an
identical existing file as done, so an interrupted run can simply be started again.

Stored paths never hold a PatientID: the ETL writes ``{patient_id}`` (``{patient_id_lower}``,
``{patient_id_upper}``) where a folder or file was named by it (``rcdm.etl.transform``). ``materialize``
turns the placeholder back into the real name at the site, from the site's person map (CSV
``patient_id,person_id``) and the row's person_id; the tidy output tree uses person_id only.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pandas as pd

from rcdm.csv_safe import escape_frame
from rcdm.errors import MaterializeError, UsageError
from rcdm.identifiers import check_identifier, check_schema
from rcdm.options import ImageCriteria, merged
from rcdm.resources import read_template

TEMPLATE = "GetCohortImages.sql"

_MODALITY = re.compile(r"^[A-Z0-9]{1,16}$")
_BODY_PART = re.compile(r"^[A-Za-z0-9 _-]{1,64}$")

CONTRAST_PHASES: dict[str, str] = {
    "pre": "pre", "pre-contrast": "pre", "precontrast": "pre", "non-contrast": "pre", "noncontrast": "pre",
    "without": "pre", "post": "post", "post-contrast": "post", "postcontrast": "post", "contrast": "post",
    "with": "post",
}
"""Accepted contrast values (lower case) → the phase stored by the ETL."""

PLANES: dict[str, str] = {"axial": "axial", "transverse": "axial", "coronal": "coronal", "sagittal": "sagittal",
                          "oblique": "oblique"}
"""Accepted anatomical plane values (lower case) → the plane stored by the ETL."""

LATERALITIES: dict[str, str] = {"l": "L", "left": "L", "r": "R", "right": "R", "b": "B", "both": "B",
                                "bilateral": "B", "u": "U", "unpaired": "U"}
"""Accepted laterality values (lower case) → the DICOM code stored by the ETL."""

ANCHORS: dict[str, str] = {"start": "cohort_start_date", "cohort_start_date": "cohort_start_date",
                           "end": "cohort_end_date", "cohort_end_date": "cohort_end_date"}

MANIFEST_NAME = "manifest"


# --- validation ---------------------------------------------------------------------------------------------


def _items(value: Any, what: str) -> list[Any]:
    """A list from None, one value, a comma-separated string, or any iterable (an R vector)."""
    if value is None:
        return []
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, (bytes, Mapping)):
        raise UsageError(f"Invalid {what} {value!r}: give a string or a list of strings.")
    elif isinstance(value, Iterable):
        items = value
    else:
        items = [value]
    out = []
    for item in items:
        if isinstance(item, str):
            item = item.strip()
            if not item:
                continue
        out.append(item)
    return out


def _codes(value: Any, what: str, pattern: re.Pattern[str], upper: bool = True) -> list[str]:
    out = []
    for item in _items(value, what):
        if not isinstance(item, str):
            raise UsageError(f"Invalid {what} {item!r}: give text.")
        text = item.upper() if upper else item
        if not pattern.match(text):
            raise UsageError(f"Invalid {what} {item!r}: it must match {pattern.pattern}.")
        out.append(text)
    return list(dict.fromkeys(out))


def _vocabulary(value: Any, what: str, allowed: Mapping[str, str]) -> list[str]:
    out = []
    for item in _items(value, what):
        key = str(item).strip().lower() if isinstance(item, str) else None
        if key not in allowed:
            choices = ", ".join(sorted(set(allowed.values())))
            raise UsageError(f"Invalid {what} {item!r}: use one of {choices}.")
        out.append(allowed[key])
    return list(dict.fromkeys(out))


def _number(value: Any, what: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise UsageError(f"Invalid {what} {value!r}: give a number.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"Invalid {what} {value!r}: give a number.") from None
    if not math.isfinite(number):
        raise UsageError(f"Invalid {what} {value!r}: give a finite number.")
    return number


def _integer(value: Any, what: str) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # exact, also beyond 2^53 (64-bit cohort ids from R arrive as Python ints)
    number = _number(value, what)
    if number is None:
        return None
    if not number.is_integer():
        raise UsageError(f"Invalid {what} {value!r}: give a whole number.")
    return int(number)


def _flag(value: Any, what: str) -> bool:
    if isinstance(value, str):
        key = value.strip().lower()
        if key in ("true", "t", "yes", "1"):
            return True
        if key in ("false", "f", "no", "0", ""):
            return False
        raise UsageError(f"Invalid {what} {value!r}: give TRUE or FALSE.")
    try:
        return bool(value)
    except (TypeError, ValueError):
        raise UsageError(f"Invalid {what} {value!r}: give TRUE or FALSE.") from None


def _quoted(values: list[str]) -> str:
    return ",".join("'" + v.replace("'", "''") + "'" for v in values)


def _fmt(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def image_query_parameters(
    cohort_definition_id: Any,
    cdm_database_schema: str,
    cohort_database_schema: str | None = None,
    cohort_table: str = "cohort",
    criteria: ImageCriteria | None = None,
    **filters: Any,
) -> dict[str, str]:
    """Validate the arguments and return the template parameters of ``GetCohortImages.sql`` (all text).

    ``criteria`` (an ``rcdm.options.ImageCriteria``) and/or ``filters`` (its fields as keywords, on top) say
    which images. Raises UsageError (or IdentifierError for a schema/table) naming the bad value before any SQL
    exists.
    """
    c = merged(ImageCriteria, criteria, filters)
    cohort_id = _integer(cohort_definition_id, "cohort_definition_id")
    if cohort_id is None:
        raise UsageError("cohort_definition_id is required.")
    check_schema(cdm_database_schema, "cdm_database_schema")
    cohort_database_schema = check_schema(cohort_database_schema or cdm_database_schema, "cohort_database_schema")
    check_identifier(cohort_table, "cohort table name")
    vocabulary_database_schema = check_schema(c.vocabulary_database_schema or cdm_database_schema,
                                              "vocabulary_database_schema")
    concept_ids = []
    for item in _items(c.protocol_concept_ids, "protocol concept id"):
        value = _integer(item, "protocol concept id")
        if value is not None:
            concept_ids.append(value)
    concept_ids = list(dict.fromkeys(concept_ids))
    low = _number(c.min_slice_thickness, "min_slice_thickness")
    high = _number(c.max_slice_thickness, "max_slice_thickness")
    for value, what in ((low, "min_slice_thickness"), (high, "max_slice_thickness")):
        if value is not None and value < 0:
            raise UsageError(f"Invalid {what} {value!r}: a thickness is not negative.")
    if low is not None and high is not None and low > high:
        raise UsageError(f"min_slice_thickness {low} is above max_slice_thickness {high}.")
    start = _integer(c.window_start_days, "window_start_days")
    end = _integer(c.window_end_days, "window_end_days")
    if start is not None and end is not None and start > end:
        raise UsageError(f"window_start_days {start} is after window_end_days {end}.")
    anchor = ANCHORS.get(str(c.window_anchor).strip().lower()) if isinstance(c.window_anchor, str) else None
    if anchor is None:
        raise UsageError(f"Invalid window_anchor {c.window_anchor!r}: use 'start' or 'end' (of the cohort entry).")
    return {
        "cdm_database_schema": cdm_database_schema,
        "vocabulary_database_schema": vocabulary_database_schema,
        "cohort_database_schema": cohort_database_schema,
        "cohort_table": cohort_table,
        "cohort_definition_id": str(cohort_id),
        "modalities": _quoted(_codes(c.modalities, "modality", _MODALITY)),
        "protocol_concept_ids": ",".join(str(i) for i in concept_ids),
        "include_descendants": "TRUE" if _flag(c.include_descendants, "include_descendants") else "FALSE",
        "body_parts": _quoted(_codes(c.body_parts, "body part", _BODY_PART)),
        "contrast_phases": _quoted(_vocabulary(c.contrast, "contrast phase", CONTRAST_PHASES)),
        "planes": _quoted(_vocabulary(c.planes, "anatomical plane", PLANES)),
        "lateralities": _quoted(_vocabulary(c.lateralities, "laterality", LATERALITIES)),
        "min_slice_thickness": "" if low is None else _fmt(low),
        "max_slice_thickness": "" if high is None else _fmt(high),
        "window_anchor": anchor,
        "window_start": "" if start is None else str(start),
        "window_end": "" if end is None else str(end),
        "first_study_only": "TRUE" if _flag(c.first_study_only, "first_study_only") else "FALSE",
    }


# --- queries ------------------------------------------------------------------------------------------------


def get_cohort_images(
    conn: Any,
    cohort_definition_id: Any,
    cdm_database_schema: str,
    cohort_database_schema: str | None = None,
    cohort_table: str = "cohort",
    criteria: ImageCriteria | None = None,
    **filters: Any,
) -> pd.DataFrame:
    """The images of a cohort's persons that pass every given filter: one row per (cohort entry, image).

    Filters (None = off): ``modalities`` (the image's modality, else its study's), ``protocol_concept_ids``
    (with their ``concept_ancestor`` descendants when ``include_descendants``), ``body_parts``, ``contrast``
    ("pre"/"post"), ``planes`` ("axial", "coronal", "sagittal", "oblique"), ``lateralities`` ("L", "R", "B",
    "U"), ``min_slice_thickness``/``max_slice_thickness`` (mm, inclusive), ``window_start_days``/
    ``window_end_days`` (days from the cohort entry's start, or end with ``window_anchor="end"``, to the study
    date, inclusive), ``first_study_only`` (per person, only the earliest study with a matching image).
    They are the fields of ``criteria`` (an ``rcdm.options.ImageCriteria``), or keywords (on top of it).
    """
    parameters = image_query_parameters(cohort_definition_id, cdm_database_schema, cohort_database_schema,
                                        cohort_table, criteria, **filters)
    return _query(conn, parameters, counts_only=False)


def count_cohort_images(conn: Any, cohort_definition_id: Any, cdm_database_schema: str,
                        cohort_database_schema: str | None = None, cohort_table: str = "cohort",
                        criteria: ImageCriteria | None = None, **filters: Any) -> pd.DataFrame:
    """Counts for a dry run: one row ``(all)`` then one per image modality, with persons, studies, series, images.

    Takes the same arguments as :func:`get_cohort_images`.
    """
    parameters = image_query_parameters(cohort_definition_id, cdm_database_schema, cohort_database_schema,
                                        cohort_table, criteria, **filters)
    frame = _query(conn, parameters, counts_only=True)
    frame["modality"] = frame["modality"].where(frame["modality"].notna(), "(unknown)")
    for column in ("persons", "studies", "series", "images"):
        frame[column] = frame[column].fillna(0).astype("int64")
    total = frame[frame["modality"] == "(all)"]
    rest = frame[frame["modality"] != "(all)"].sort_values(["images", "modality"], ascending=[False, True])
    return pd.concat([total, rest], ignore_index=True)


def _query(conn: Any, parameters: dict[str, str], counts_only: bool) -> pd.DataFrame:
    from rcdm.db import query_sql

    return query_sql(conn, read_template(TEMPLATE), parameters={**parameters,
                                                                "counts_only": "TRUE" if counts_only else "FALSE"})


# --- manifest -----------------------------------------------------------------------------------------------


_PLACEHOLDER = re.compile(r"\{patient_id(?:_lower|_upper)?\}")


def relative_paths(df: pd.DataFrame) -> pd.Series:
    """``person_<id>/study_<occurrence>/series_<series>/<file name>``; a name two images share gets the image id.

    A PatientID placeholder in the file name becomes ``person_<id>`` (the tree never holds a PatientID)."""
    if df.empty:
        return pd.Series([], dtype="object", index=df.index)
    names = pd.Series([_PLACEHOLDER.sub(f"person_{int(person)}", re.split(r"[\\/]", str(p))[-1] or "image")
                       for p, person in zip(df["file_path"], df["person_id"])], index=df.index, dtype="object")
    folders = ("person_" + df["person_id"].astype("int64").astype(str) + "/study_"
               + df["radiology_occurrence_id"].astype("int64").astype(str) + "/series_"
               + df["radiology_series_id"].astype("int64").astype(str))
    paths = folders + "/" + names
    images = pd.DataFrame({"path": paths, "image": df["radiology_image_id"]}).drop_duplicates()
    shared = images[images.duplicated("path", keep=False)]["path"]
    clash = paths.isin(set(shared))
    paths[clash] = folders[clash] + "/" + df.loc[clash, "radiology_image_id"].astype("int64").astype(str) + "_" \
        + names[clash]
    return paths


def write_manifest(df: pd.DataFrame, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``manifest.csv`` and ``manifest.parquet`` under ``out_dir``; returns their paths.

    The manifest is ``df`` with a ``relative_path`` column added: where :func:`materialize` puts each file
    (relative to ``out_dir``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = df.copy()
    if "relative_path" not in manifest.columns:
        manifest.insert(manifest.columns.get_loc("file_path") + 1 if "file_path" in manifest.columns else 0,
                        "relative_path", relative_paths(manifest))
    csv_path = out / f"{MANIFEST_NAME}.csv"
    parquet_path = out / f"{MANIFEST_NAME}.parquet"
    # formula-like text escaped (rcdm.csv_safe); CRLF line ends, so a CR inside a cell is quoted
    escape_frame(manifest).to_csv(csv_path, index=False, lineterminator="\r\n")
    _to_parquet(manifest, parquet_path)
    return {"csv": csv_path, "parquet": parquet_path}


def _to_parquet(frame: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            sample = frame[column].dropna()
            if not sample.empty and isinstance(sample.iloc[0], (int, float)) and not isinstance(sample.iloc[0], bool):
                frame[column] = pd.to_numeric(frame[column])
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


# --- materialize --------------------------------------------------------------------------------------------

_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _same_file(a: Path, b: Path) -> bool:
    """Same size and same SHA-256 (following links)."""
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
    except OSError:
        return False
    return _sha256(a) == _sha256(b)


def _copy_verified(src: Path, dst: Path) -> int:
    """Copy through a partial file, check size + SHA-256 against the source, then move it into place."""
    partial = dst.with_name(f".{dst.name}.rcdm-partial")
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as reader, open(partial, "wb") as writer:
        for block in iter(lambda: reader.read(_CHUNK), b""):
            digest.update(block)
            writer.write(block)
            size += len(block)
        writer.flush()
        os.fsync(writer.fileno())
    if partial.stat().st_size != size or _sha256(partial) != digest.hexdigest():
        partial.unlink(missing_ok=True)
        raise MaterializeError(f"Copy of {src} to {dst} did not verify (size or SHA-256 differ); nothing kept.")
    shutil.copystat(src, partial)
    os.replace(partial, dst)
    return size


def _source_path(root: Path, file_path: str) -> Path:
    path = Path(str(file_path))
    return path if path.is_absolute() else root / path


def _resolve(file_path: str, patient_ids: list[str]) -> list[str]:
    """The candidate real paths of a stored path with PatientID placeholders, one per PatientID."""
    out = []
    for patient_id in patient_ids:
        spelled = {"{patient_id}": patient_id, "{patient_id_lower}": patient_id.lower(),
                   "{patient_id_upper}": patient_id.upper()}
        out.append(_PLACEHOLDER.sub(lambda m, s=spelled: s[m.group(0)], file_path))
    return out


_INDEX_ONLY = ("{redacted}", "{uid}", "{accession}")
"""Placeholders of a stored path that only the path index resolves."""


def _indexed_paths(path_index: Any, image_ids: Iterable[Any], root: Path) -> dict[int, Path]:
    """image id → its file, from the path index: the first recorded path that exists (as recorded, or relative to
    ``root`` when the archive moved)."""
    if path_index is None:
        return {}
    from rcdm.etl.path_index import PathIndex

    found: dict[int, Path] = {}
    with PathIndex(path_index, create=False) as index:
        for image_id, paths in index.locate(int(i) for i in image_ids).items():
            for recorded_root, relative in paths:
                hits = [p for p in (Path(recorded_root) / relative, root / relative) if p.is_file()]
                if hits:
                    found[image_id] = hits[0]
                    break
    return found


def _person_map(person_map: Any) -> Any:
    if person_map is None:
        return None
    from rcdm.dicom.deid import PersonMap, load_person_map

    return person_map if isinstance(person_map, PersonMap) else load_person_map(person_map)


def materialize(
    df: pd.DataFrame,
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    mode: str = "copy",
    progress: bool | Callable[[int, int], Any] = False,
    person_map: Any = None,
    path_index: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Copy (``mode="copy"``) or symlink (``mode="link"``) each image of ``df`` from ``root`` into ``out_dir``.

    Layout: ``person_<id>/study_<occurrence id>/series_<series id>/<file name>``. Every copy is verified (size
    and SHA-256 equal to the source). An existing identical file (or a link to the same source) counts as
    done, so a re-run resumes; a different file in the way is never overwritten: all of them are listed in a
    MaterializeError raised before anything is written. ``progress`` is True (a progress bar) or a callable
    ``(done, total)``. Returns ``{"mode", "images", "copied", "linked", "skipped", "missing", "unresolved",
    "bytes"}``;
    ``missing`` lists the ``file_path`` values not found under ``root`` (those images are left out).

    ``person_map`` (a CSV ``patient_id,person_id`` path, or a ``PersonMap``) resolves the ``{patient_id}``
    placeholders of stored paths from the row's person_id; without it, or when the person has no PatientID in
    the map, those images are listed in ``unresolved`` (the other images are materialized as usual).

    ``path_index`` (the site's index of real paths, ``rcdm.etl.path_index``; the ETL keeps it beside the site
    secret) is asked first: an image's file is the first existing path it records for the image, under the
    root it was loaded from or under ``root``. Stored paths are de-identified (``{uid}``, ``{accession}``,
    ``{redacted}``...), so files named by UID are found through the index only.
    """
    if mode not in ("copy", "link"):
        raise UsageError(f"Invalid mode {mode!r}: use 'copy' or 'link'.")
    root_dir = Path(root).expanduser().resolve()
    if not root_dir.is_dir():
        raise UsageError(f"The archive root {root_dir} is not a folder.")
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    work = df.copy()
    if "relative_path" not in work.columns:
        work["relative_path"] = relative_paths(work)
    images = work.drop_duplicates("radiology_image_id")[["radiology_image_id", "file_path", "relative_path",
                                                          "person_id"]]
    persons = _person_map(person_map)
    reverse = persons.reverse() if persons is not None else {}
    indexed = _indexed_paths(path_index, images["radiology_image_id"], root_dir)

    plan: list[tuple[Path, Path, bool]] = []  # (source, target, already done)
    missing: list[str] = []
    unresolved: list[str] = []
    conflicts: list[str] = []
    for image_id, file_path, relative, person in zip(images["radiology_image_id"], images["file_path"],
                                                     images["relative_path"], images["person_id"]):
        file_path = str(file_path)
        dst = out / relative
        if int(image_id) in indexed:
            src = indexed[int(image_id)]
        elif any(mark in file_path for mark in _INDEX_ONLY):
            unresolved.append(file_path)
            continue
        elif _PLACEHOLDER.search(file_path):
            candidates = _resolve(file_path, reverse.get(int(person), [])) if persons is not None else []
            if not candidates:
                unresolved.append(file_path)
                continue
            found = [c for c in candidates if _source_path(root_dir, c).is_file()]
            src = _source_path(root_dir, found[0] if found else candidates[0])
        else:
            src = _source_path(root_dir, file_path)
        if not src.is_file():
            missing.append(file_path)
            continue
        done = False
        if dst.is_symlink() or dst.exists():
            if mode == "link" and dst.is_symlink() and Path(os.readlink(dst)) == src.resolve():
                done = True
            elif dst.is_file() and _same_file(dst, src):
                done = True
            else:
                conflicts.append(str(dst))
        plan.append((src, dst, done))
    if conflicts:
        shown = "\n  ".join(conflicts[:20]) + ("\n  ..." if len(conflicts) > 20 else "")
        raise MaterializeError(f"{len(conflicts)} file(s) in {out} differ from the images they would hold; "
                               f"nothing was overwritten (move them away, or use another --out):\n  {shown}")

    summary: dict[str, Any] = {"mode": mode, "out_dir": str(out), "images": len(plan), "copied": 0, "linked": 0,
                               "skipped": 0, "missing": missing, "unresolved": unresolved, "bytes": 0}
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(plan), desc="Materializing images", unit="image")
    try:
        for number, (src, dst, done) in enumerate(plan, start=1):
            if done:
                summary["skipped"] += 1
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                if mode == "copy":
                    summary["bytes"] += _copy_verified(src, dst)
                    summary["copied"] += 1
                else:
                    os.symlink(src.resolve(), dst)
                    if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
                        raise MaterializeError(f"The link {dst} does not resolve to {src}.")
                    summary["linked"] += 1
            if bar is not None:
                bar.update(1)
            elif callable(progress):
                progress(number, len(plan))
    finally:
        if bar is not None:
            bar.close()
    return summary


__all__ = [
    "MaterializeError",
    "count_cohort_images",
    "get_cohort_images",
    "image_query_parameters",
    "materialize",
    "relative_paths",
    "write_manifest",
]
