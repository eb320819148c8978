"""Metadata-only ETL from a PACS (Orthanc on 127.0.0.1) against the file ETL of the same images, in one run.

Writes the synthetic sample corpus (``rcdm.dicom.sample``) for ``--patients`` patients, uploads its images to
a throw-away Orthanc (``tests/orthanc_server.py``: Debian's orthanc + orthanc-dicomweb), then loads them into
fresh DuckDB files and reports studies/s and instances/s of:

* ``file``: ``rcdm etl`` of the folder (1 worker; the baseline: the same rows);
* ``dicomweb``: QIDO-RS, for each ``--page-sizes`` x ``--concurrency`` setting;
* ``dimse``: C-FIND (study, series, image level), for each ``--concurrency`` setting.

Each PACS run is a first load (empty index, empty schema). Also times a cohort-sized retrieval (every image)
by WADO-RS and C-GET with the largest concurrency. Orthanc reads each instance's file to answer for
attributes outside its index (``StorageAccessOnFind: Always``), as most PACS answer for non-indexed ones.

    python extras/benchmarks/bench_pacs.py --patients 120 --page-sizes 100,1000 --concurrency 1,4
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from orthanc_server import start_server  # noqa: E402

from rcdm.dicom.sample import write_sample_corpus  # noqa: E402
from rcdm.etl import run_etl  # noqa: E402
from rcdm.pacs import PacsOptions  # noqa: E402


def _numbers(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=120)
    parser.add_argument("--page-sizes", default="100,1000")
    parser.add_argument("--concurrency", default="1,4")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rcdm-bench-pacs-"))
    corpus = write_sample_corpus(work / "archive", n_patients=args.patients)
    images = corpus["images"]
    server = start_server()
    try:
        started = time.perf_counter()
        server.upload(images)
        print(f"corpus: {len(images)} images, {corpus['studies']} studies, {corpus['patients']} patients; "
              f"upload to Orthanc {time.perf_counter() - started:.1f} s")
        secret = str(work / "secret")
        rows = []

        def run(name: str, paths: list[str], options: PacsOptions | None = None, **kw) -> None:
            db = work / f"{name}.duckdb"
            started = time.perf_counter()
            summary = run_etl(paths, str(db), "cdm", person_map=corpus["person_map"], secret_file=secret, quiet=True,
                              pacs=options, **kw)
            seconds = time.perf_counter() - started
            assert summary["loaded"] == len(images), summary
            rows.append((name, seconds, corpus["studies"] / seconds, len(images) / seconds))

        run("file (1 worker)", [corpus["out_dir"]], workers=1)
        for size in _numbers(args.page_sizes):
            for conc in _numbers(args.concurrency):
                run(f"dicomweb page {size} x{conc}", [server.dicomweb_url],
                    PacsOptions(page_size=size, concurrency=conc, index=str(work / f"w{size}-{conc}.sqlite")))
        for conc in _numbers(args.concurrency):
            run(f"dimse x{conc}", [server.dimse_url],
                PacsOptions(concurrency=conc, index=str(work / f"d{conc}.sqlite")))
        base = rows[0][3]
        print(f"{'ETL':<26}{'seconds':>9}{'studies/s':>11}{'instances/s':>13}{'vs file':>9}")
        for name, seconds, studies, instances in rows:
            print(f"{name:<26}{seconds:>9.2f}{studies:>11.1f}{instances:>13.1f}{instances / base:>9.2f}")

        import pandas as pd

        import rcdm
        from rcdm.pacs.retrieve import retrieve_images

        conc = max(_numbers(args.concurrency))
        with rcdm.connect(str(work / "file (1 worker).duckdb")) as conn:
            frame = pd.DataFrame(rcdm.query_sql(
                conn, "SELECT i.radiology_image_id, i.radiology_occurrence_id, i.radiology_series_id, i.file_path, "
                      "o.person_id FROM cdm.radiology_image i JOIN cdm.radiology_occurrence o "
                      "ON o.radiology_occurrence_id = i.radiology_occurrence_id;"))
        size = _numbers(args.page_sizes)[0]
        for name, address, index in (("WADO-RS", server.dicomweb_url, work / f"w{size}-{conc}.sqlite"),
                                     ("C-GET", server.dimse_url, work / f"d{conc}.sqlite")):
            out = work / f"out-{name}"
            started = time.perf_counter()
            got = retrieve_images(frame, address, out, PacsOptions(concurrency=conc, index=str(index)))
            seconds = time.perf_counter() - started
            print(f"retrieve {name} x{conc}: {got['retrieved']} images, {got['bytes'] / 1e6:.1f} MB in {seconds:.2f} s "
                  f"({got['retrieved'] / seconds:.1f} images/s)")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
