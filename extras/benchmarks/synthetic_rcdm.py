"""A synthetic R-CDM database at the paper's scale, in DuckDB and PostgreSQL: load time, size, cohort query.

    python extras/benchmarks/synthetic_rcdm.py [--occurrences 2801360] [--images 10500000] [--persons 1000000]
        [--work DIR] [--postgres URL | --no-postgres] [--keep]

Generator (SQL inside DuckDB, deterministic: every random draw is ``hash(row number, salt)``):

* ``radiology_occurrence``: ``--occurrences`` studies (default 2,801,360, the paper's count). The modality mix
  of studies is the paper's (X-ray CR+DX 59.3 %, CT 9.3 %) and, for the other 31.4 %, an assumed mix (MR 5,
  US 13, MG 9, XA 1.6, RF 1.3, PT 0.8, NM 0.7 %). Each modality has a mean number of images per study at the
  paper's scale (87,203,226 images: X-ray 2.9 % of them, CT 63.3 %, the rest assumed: MR 20, US 3, MG 1.2,
  XA 3.5, RF 1.1, PT 4.2, NM 0.8 %), i.e. 1.5 images per X-ray study, 212 per CT study. For a smaller
  ``--images`` total every mean m becomes ``1 + (m - 1) * s``, one s for all modalities, so every study keeps
  at least one image; at ``--images 87203226`` the paper's mix is reproduced exactly, at the default
  10.5 million CT is ~50 % of the images and X-ray ~17 %. Images per study: 1 + an exponential draw around
  that mean (long tail); series per study: up to a per-modality maximum (X-ray 2, CT 6, MR 10...).
  Persons: ``--persons`` (default 1,000,000), skewed (a few persons have many studies); dates 2005-2021;
  manufacturer one of four; ``protocol_concept_id`` set for 72 % of studies (the paper's 72.05 %).
* ``radiology_image``: one row per image, the columns the ETL fills (file path ~70 characters, keyed-hash-like
  64-hex source values, plane / contrast / laterality / slice thickness by modality, series numbering).
* ids are 63-bit hash-like integers, as the ETL's keyed hashes are (no locality to exploit).

Steps and what is measured:

1. generate both tables in a scratch DuckDB, write them as Parquet (and CSV for PostgreSQL's COPY); timed
   but not counted as load time;
2. DuckDB: a new file with the R-CDM DDL (primary keys, no secondary indexes), ``INSERT ... SELECT FROM
   read_parquet`` (load time), file size after CHECKPOINT;
3. PostgreSQL (``--postgres URL`` or a throw-away server from ``tests/pg_server.py``): the same DDL, ``COPY
   FROM STDIN`` of the CSV through psycopg (load time), ``ANALYZE``, ``pg_total_relation_size``;
4. both: a cohort of 5,000 persons (``--cohort``) in ``cdm.cohort``; ``rcdm.extract.get_cohort_images``
   (``GetCohortImages.sql``) for (a) all their images and (b) the paper's query shape (CT, axial,
   pre-contrast, within 30 days of the cohort start), best of 3 runs, before and after the DDL's indexes
   (``rcdm_indices.sql``; their build time is printed), and the sizes again.

Prints a Markdown table per database. Default sizes take ~10-15 minutes and ~15 GB of disk on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

import duckdb  # noqa: E402

from rcdm.db import connect, execute_sql, execute_statements, insert_table, query_sql  # noqa: E402
from rcdm.ddl import create_tables, ddl_statements  # noqa: E402
from rcdm.extract import get_cohort_images  # noqa: E402

PAPER_OCCURRENCES = 2_801_360
PAPER_IMAGES = 87_203_226

# modality, % of studies, % of images (at the paper's scale), max series per study, body parts
MIX = (
    ("CR", 35.0, 1.7, 2, ("CHEST", "ABDOMEN", "HAND", "KNEE", "SPINE")),
    ("DX", 24.3, 1.2, 2, ("CHEST", "PELVIS", "FOOT", "SHOULDER")),
    ("CT", 9.3, 63.3, 6, ("HEAD", "CHEST", "ABDOMEN", "NECK", "SPINE")),
    ("MR", 5.0, 20.0, 10, ("BRAIN", "KNEE", "SPINE", "ABDOMEN")),
    ("US", 13.0, 3.0, 2, ("ABDOMEN", "THYROID", "BREAST", "HEART")),
    ("MG", 9.0, 1.2, 4, ("BREAST",)),
    ("XA", 1.6, 3.5, 3, ("HEART", "HEAD")),
    ("RF", 1.3, 1.1, 3, ("ABDOMEN", "CHEST")),
    ("PT", 0.8, 4.2, 3, ("WHOLEBODY",)),
    ("NM", 0.7, 0.8, 3, ("WHOLEBODY", "BONE")),
)
SIZES = {"CR": (2500, 2048), "DX": (3000, 2500), "CT": (512, 512), "MR": (512, 512), "US": (600, 800),
         "MG": (4096, 3328), "XA": (1024, 1024), "RF": (1024, 1024), "PT": (192, 192), "NM": (256, 256)}
COHORT_DDL = ("CREATE TABLE cdm.cohort (cohort_definition_id BIGINT NOT NULL, subject_id BIGINT NOT NULL, "
              "cohort_start_date DATE NOT NULL, cohort_end_date DATE NOT NULL);")
PROTOCOLS = (3004287, 3002086, 3013940, 3035856, 3024755, 3018911, 3029426, 3010150)


def mix_table(occurrences: int, images: int) -> list[dict]:
    """Per modality: cumulative study share bounds and the mean images per study for this ``images`` total."""
    assert abs(sum(m[1] for m in MIX) - 100) < 1e-6 and abs(sum(m[2] for m in MIX) - 100) < 1e-6
    paper_mean = {m[0]: (m[2] / 100 * PAPER_IMAGES) / (m[1] / 100 * PAPER_OCCURRENCES) for m in MIX}
    excess = sum(m[1] / 100 * (paper_mean[m[0]] - 1) for m in MIX)
    s = (images / occurrences - 1) / excess
    rows, low = [], 0.0
    for name, studies, _img, series, parts in MIX:
        high = low + studies / 100
        rows.append({"modality": name, "lo": low, "hi": high if name != MIX[-1][0] else 1.0001,
                     "mean": 1 + (paper_mean[name] - 1) * s, "max_series": series, "parts": parts})
        low = high
    return rows


def generate(work: Path, occurrences: int, images: int, persons: int) -> dict:
    """Generate the two tables into Parquet (and CSV) files under ``work``; returns paths and counts."""
    mix = mix_table(occurrences, images)
    con = duckdb.connect(str(work / "scratch.duckdb"))
    con.execute(f"SET temp_directory = '{work / 'tmp'}'")
    values = ", ".join(f"('{m['modality']}', {m['lo']}, {m['hi']}, {m['mean']}, {m['max_series']}, "
                       f"{list(m['parts'])!r})" for m in mix)
    con.execute(f"CREATE TABLE mix (modality VARCHAR, lo DOUBLE, hi DOUBLE, mean DOUBLE, max_series INTEGER, "
                f"parts VARCHAR[]); INSERT INTO mix VALUES {values};")
    protocols = "[" + ", ".join(str(p) for p in PROTOCOLS) + "]"
    con.execute(f"""
CREATE TABLE occ AS
WITH base AS (
  SELECT i,
    (hash(i, 'm') % 1000000) / 1e6 AS u_mod,
    (hash(i, 'n') % 1000000 + 0.5) / 1e6 AS u_n,
    (hash(i, 'p') % 1000000 + 0.5) / 1e6 AS u_p
  FROM range({occurrences}) r(i)
)
SELECT b.i,
  (hash(b.i, 'study') >> 1)::BIGINT AS radiology_occurrence_id,
  1 + LEAST({persons} - 1, FLOOR({persons} * b.u_p * b.u_p))::BIGINT AS person_id,
  DATE '2005-01-01' + (hash(b.i, 'd') % 6209)::INTEGER AS d,
  m.modality, m.max_series, m.parts,
  1 + ROUND(-LN(b.u_n) * (m.mean - 1))::INTEGER AS n_images,
  (hash(b.i, 'mf') % 4)::INTEGER AS maker,
  CASE WHEN hash(b.i, 'pc') % 10000 < 7205 THEN {protocols}[1 + (hash(b.i, 'pr') % {len(PROTOCOLS)})::INTEGER]
       ELSE 0 END AS protocol_concept_id,
  sha256('study' || b.i::VARCHAR) AS occ_hash
FROM base b JOIN mix m ON b.u_mod >= m.lo AND b.u_mod < m.hi;
""")
    rows_case = " ".join(f"WHEN '{m}' THEN {r}" for m, (r, _c) in SIZES.items())
    cols_case = " ".join(f"WHEN '{m}' THEN {c}" for m, (_r, c) in SIZES.items())
    con.execute(f"""
CREATE TABLE img AS
WITH expanded AS (
  SELECT o.*, LEAST(o.n_images, 1 + (hash(o.i, 's') % o.max_series)::INTEGER) AS n_series,
    UNNEST(range(o.n_images)) AS j
  FROM occ o
),
rows AS (
  SELECT e.*, e.j % e.n_series AS s, hash(e.i, e.j) AS h
  FROM expanded e
)
SELECT
  (hash(r.i, r.j, 'sop') >> 1)::BIGINT AS radiology_image_id,
  r.radiology_occurrence_id,
  (hash(r.i, r.s, 'series') >> 1)::BIGINT AS radiology_series_id,
  'archive/' || strftime(r.d, '%Y/%m/%d') || '/' || substr(r.occ_hash, 1, 16) || '/' || r.s::VARCHAR || '/'
    || lpad(r.j::VARCHAR, 5, '0') || '.dcm' AS file_path,
  r.parts[1 + (hash(r.i, 'bp') % len(r.parts))::INTEGER] AS body_part_source_value,
  NULL::VARCHAR AS laterality_concept_id,
  CASE WHEN r.modality IN ('CR', 'DX', 'MG') THEN ['L', 'R', 'B', 'U'][1 + (r.h % 4)::INTEGER] END
    AS laterality_source_value,
  CASE WHEN r.modality IN ('CT', 'MR') AND hash(r.i, r.s, 'pl') % 100 < 70 THEN 'RID10579' END
    AS anatomical_plane_concept_id,
  CASE WHEN r.modality IN ('CT', 'MR') THEN
    CASE WHEN hash(r.i, r.s, 'pl') % 100 < 70 THEN 'axial' WHEN hash(r.i, r.s, 'pl') % 100 < 85 THEN 'coronal'
         WHEN hash(r.i, r.s, 'pl') % 100 < 97 THEN 'sagittal' ELSE 'oblique' END END
    AS anatomical_plane_source_value,
  CASE WHEN r.modality IN ('CT', 'MR') AND hash(r.i, r.s, 'c') % 100 < 55 THEN 'RID28833' END
    AS series_type_concept_id,
  CASE WHEN r.modality IN ('CT', 'MR') THEN
    CASE WHEN hash(r.i, r.s, 'c') % 100 < 55 THEN 'pre:no_contrast_agent' ELSE 'post:contrast_bolus_agent' END
    END AS series_type_source_value,
  NULL::INTEGER AS series_total_number,
  NULL::INTEGER AS series_serial_number,
  CASE r.modality {rows_case} END AS image_resolution_rows,
  CASE r.modality {cols_case} END AS image_resolution_columns,
  CASE WHEN r.modality = 'CT' THEN [0.625, 1.25, 2.5, 5.0][1 + (hash(r.i, r.s, 't') % 4)::INTEGER] END
    AS ct_slice_thickness,
  r.modality,
  (r.j // r.n_series + 1)::INTEGER AS instance_number,
  sha256('series' || r.i::VARCHAR || '/' || r.s::VARCHAR) AS radiology_series_source_value,
  sha256('sop' || r.i::VARCHAR || '/' || r.j::VARCHAR) AS radiology_image_source_value
FROM rows r;
""")
    con.execute("""
CREATE TABLE img2 AS SELECT * REPLACE (
  COUNT(*) OVER (PARTITION BY radiology_series_id)::INTEGER AS series_total_number,
  ROW_NUMBER() OVER (PARTITION BY radiology_series_id ORDER BY instance_number, radiology_image_source_value)::INTEGER
    AS series_serial_number)
FROM img;
DROP TABLE img;
""")
    con.execute("""
CREATE TABLE occurrence AS
SELECT o.radiology_occurrence_id, o.person_id, o.d AS radiology_occurrence_date,
  o.d::TIMESTAMP + to_seconds((hash(o.i, 't') % 86400)::BIGINT) AS radiology_occurrence_datetime,
  o.modality, ['GE MEDICAL SYSTEMS', 'SIEMENS', 'Philips', 'TOSHIBA'][1 + o.maker] AS manufacturer,
  o.protocol_concept_id,
  o.modality || '|' || o.parts[1] || '|' || o.modality || ' ' || o.parts[1] AS protocol_source_value,
  c.n_series::INTEGER AS count_of_series, c.n_images::INTEGER AS count_of_images,
  NULL::VARCHAR AS radiology_note, NULL::BIGINT AS visit_occurrence_id,
  o.occ_hash AS radiology_occurrence_source_value
FROM occ o JOIN (SELECT radiology_occurrence_id, COUNT(DISTINCT radiology_series_id) AS n_series,
                   COUNT(*) AS n_images FROM img2 GROUP BY 1) c USING (radiology_occurrence_id);
""")
    out = {"occurrence": work / "occurrence.parquet", "image": work / "image.parquet"}
    con.execute(f"COPY occurrence TO '{out['occurrence']}' (FORMAT parquet)")
    con.execute(f"COPY img2 TO '{out['image']}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)")
    counts = {
        "occurrences": con.execute("SELECT COUNT(*) FROM occurrence").fetchone()[0],
        "images": con.execute("SELECT COUNT(*) FROM img2").fetchone()[0],
        "persons": con.execute("SELECT COUNT(DISTINCT person_id) FROM occurrence").fetchone()[0],
        "by_modality": con.execute(
            "SELECT modality, COUNT(*) AS studies, SUM(count_of_images) AS images FROM occurrence GROUP BY 1 "
            "ORDER BY 3 DESC").fetchall(),
    }
    con.close()
    os.remove(work / "scratch.duckdb")
    return {**out, **counts}


def cohort_rows(parquet: Path, n: int):
    """``n`` persons (a hash-ordered sample of those with studies); start = their first study date - 7 days."""
    con = duckdb.connect()
    table = con.sql(f"""
SELECT 1::BIGINT AS cohort_definition_id, person_id AS subject_id,
  (MIN(radiology_occurrence_date) - 7)::DATE AS cohort_start_date,
  (MIN(radiology_occurrence_date) + 358)::DATE AS cohort_end_date
FROM read_parquet('{parquet}') GROUP BY person_id ORDER BY hash(person_id, 'cohort') LIMIT {n}
""").to_arrow_table()
    con.close()
    return table


QUERIES = {
    "all images": {},
    "CT axial pre-contrast, 0-30 days": {"modalities": "CT", "planes": "axial", "contrast": "pre",
                                         "window_start_days": 0, "window_end_days": 30},
}


def time_queries(conn, repeat: int = 3) -> dict[str, tuple[float, int]]:
    out = {}
    for name, filters in QUERIES.items():
        best, rows = math.inf, 0
        for _ in range(repeat):
            start = time.perf_counter()
            rows = len(get_cohort_images(conn, 1, "cdm", **filters))
            best = min(best, time.perf_counter() - start)
        out[name] = (best, rows)
    return out


def create_indexes(conn) -> float:
    start = time.perf_counter()
    for st in ddl_statements("cdm", "rcdm", indexes=True):
        if st.kind == "index":
            execute_sql(conn, st.sql)
    return time.perf_counter() - start


def bench_duckdb(work: Path, data: dict, cohort) -> dict:
    path = work / "rcdm.duckdb"
    with connect(path) as conn:
        create_tables(conn, "cdm", indexes=False)
        execute_sql(conn, COHORT_DDL)
    raw = duckdb.connect(str(path))  # DuckDB's own bulk path: INSERT ... SELECT FROM read_parquet
    start = time.perf_counter()
    raw.execute(f"INSERT INTO cdm.radiology_occurrence SELECT * FROM read_parquet('{data['occurrence']}')")
    raw.execute(f"INSERT INTO cdm.radiology_image SELECT * FROM read_parquet('{data['image']}')")
    raw.execute("CHECKPOINT")
    load = time.perf_counter() - start
    raw.close()
    with connect(path) as conn:
        insert_table(conn, "cdm", "cohort", cohort)
    size = path.stat().st_size
    with connect(path) as conn:
        before = time_queries(conn)
        index_s = create_indexes(conn)
    size_indexed = path.stat().st_size
    with connect(path) as conn:
        after = time_queries(conn)
    return {"load_s": load, "size": size, "size_indexed": size_indexed, "index_s": index_s, "before": before,
            "after": after}


def _pg_copy(url: str, table: str, csv_path: Path) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database) as pg:
        with pg.cursor() as cur, cur.copy(f"COPY cdm.{table} FROM STDIN (FORMAT csv)") as copy:
            with open(csv_path, "rb") as f:
                while block := f.read(1 << 20):
                    copy.write(block)
        pg.commit()


def bench_postgres(url: str, work: Path, data: dict, cohort) -> dict:
    csvs = {}
    start = time.perf_counter()
    con = duckdb.connect()
    for name in ("occurrence", "image"):  # columns in DDL order: the Parquet files were written in that order
        csvs[name] = work / f"{name}.csv"
        con.execute(f"COPY (SELECT * FROM read_parquet('{data[name]}')) TO '{csvs[name]}' (FORMAT csv, HEADER false)")
    con.close()
    export = time.perf_counter() - start
    with connect(url) as conn:
        execute_sql(conn, "DROP SCHEMA IF EXISTS cdm CASCADE;")
        create_tables(conn, "cdm", indexes=False)
        execute_sql(conn, COHORT_DDL)
    start = time.perf_counter()
    _pg_copy(url, "radiology_occurrence", csvs["occurrence"])
    _pg_copy(url, "radiology_image", csvs["image"])
    load = time.perf_counter() - start
    for path in csvs.values():
        path.unlink()
    size_sql = ("SELECT pg_total_relation_size('cdm.radiology_occurrence') + "
                "pg_total_relation_size('cdm.radiology_image') AS n;")
    with connect(url) as conn:
        insert_table(conn, "cdm", "cohort", cohort)
        start = time.perf_counter()
        execute_statements(conn, ["ANALYZE cdm.radiology_occurrence", "ANALYZE cdm.radiology_image",
                                  "ANALYZE cdm.cohort"])
        analyze = time.perf_counter() - start
        size = int(query_sql(conn, size_sql)["n"][0])
        before = time_queries(conn)
        execute_statements(conn, ["SET maintenance_work_mem = '1GB'"])
        index_s = create_indexes(conn)
        execute_statements(conn, ["ANALYZE cdm.radiology_occurrence", "ANALYZE cdm.radiology_image"])
        size_indexed = int(query_sql(conn, size_sql)["n"][0])
        after = time_queries(conn)
    return {"export_s": export, "load_s": load, "analyze_s": analyze, "size": size, "size_indexed": size_indexed,
            "index_s": index_s, "before": before, "after": after}


def report(name: str, r: dict, data: dict, persons: int) -> None:
    rows = data["occurrences"] + data["images"]
    print(f"\n### {name}\n")
    print("| measure | value |\n|---|---|")
    if "export_s" in r:
        print(f"| export to CSV for COPY (not load) | {r['export_s']:.0f} s |")
    print(f"| load ({data['occurrences']:,} occurrences + {data['images']:,} images) | {r['load_s']:.0f} s "
          f"({rows / r['load_s']:,.0f} rows/s) |")
    if "analyze_s" in r:
        print(f"| ANALYZE | {r['analyze_s']:.0f} s |")
    print(f"| size on disk, no secondary indexes | {r['size'] / 2**30:.2f} GiB |")
    print(f"| build the DDL's 7 indexes | {r['index_s']:.0f} s |")
    print(f"| size on disk, with indexes | {r['size_indexed'] / 2**30:.2f} GiB |")
    for query in QUERIES:
        (b, n), (a, _) = r["before"][query], r["after"][query]
        print(f"| cohort of {persons:,} persons, {query} ({n:,} rows): without / with indexes | "
              f"{b:.2f} s / {a:.2f} s |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--occurrences", type=int, default=PAPER_OCCURRENCES)
    parser.add_argument("--images", type=int, default=11_000_000)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--cohort", type=int, default=5000)
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL (default: start a throw-away server)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-duckdb", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="rcdm-synthetic-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "tmp").mkdir(exist_ok=True)
    try:
        start = time.perf_counter()
        data = generate(work, args.occurrences, args.images, args.persons)
        print(f"generated {data['occurrences']:,} occurrences, {data['images']:,} images, {data['persons']:,} "
              f"persons in {time.perf_counter() - start:.0f} s (Parquet: "
              f"{(data['occurrence'].stat().st_size + data['image'].stat().st_size) / 2**30:.2f} GiB)")
        total_s = sum(s for _m, s, _i in data["by_modality"])
        total_i = sum(i for _m, _s, i in data["by_modality"])
        print("| modality | studies | % studies | images | % images | images/study |\n|---|---|---|---|---|---|")
        for modality, studies, images in data["by_modality"]:
            print(f"| {modality} | {studies:,} | {100 * studies / total_s:.1f} | {images:,} | "
                  f"{100 * images / total_i:.1f} | {images / studies:.1f} |")
        cohort = cohort_rows(data["occurrence"], args.cohort)
        if not args.no_duckdb:
            report("DuckDB " + duckdb.__version__, bench_duckdb(work, data, cohort), data, cohort.num_rows)
        if not args.no_postgres:
            server, url = None, args.postgres
            if url is None:
                from pg_server import start_server

                server = start_server()
                url = server.url
            try:
                with connect(url) as conn:
                    version = query_sql(conn, "SELECT version() AS v;")["v"][0].split(" on ")[0]
                report(version, bench_postgres(url, work, data, cohort), data, cohort.num_rows)
            finally:
                if server is not None:
                    server.stop()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
