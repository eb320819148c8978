"""Build the header reader's three benchmark corpora from real files shipped with pydicom and nibabel.

    python extras/benchmarks/header_corpora.py OUT_DIR [--n 1000]

* ``ct_explicit``: explicit VR little endian CT, pydicom's ``CT_small.dcm`` (GE, ~250 elements with private
  groups) with full-size 512x512 16-bit pixel data (~530 KB a file);
* ``mr_implicit``: implicit VR little endian Siemens MR with ~92 KB of private CSA headers, nibabel's
  ``nicom/tests/data/0.dcm`` and ``siemens_dwi_0.dcm.gz``/``siemens_dwi_1000.dcm.gz`` (real pixel data);
* ``enhanced``: enhanced multi-frame objects, nibabel's Philips ``philips_mprage.dcm.gz`` (176 frames, every
  per-frame functional group item kept) and pydicom's ``eCT_Supplemental.dcm`` (enhanced CT, 2 frames) and
  ``liver.dcm`` (a 3-frame SEG); their pixel data is cut to 64x64 a frame (Rows/Columns set to match) so that
  the corpus stays small; the headers are as shipped.

Each file is a byte copy of its template with its SOP Instance UID (and Series/Study UID) replaced by one of
the same length, so every file is distinct and the copies cost no parsing. Writes nothing if the folder
already holds the corpus.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import sys
import warnings
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file

CORPORA = ("ct_explicit", "mr_implicit", "enhanced")


def _nibabel_file(name: str) -> bytes:
    import nibabel

    path = Path(nibabel.__file__).parent / "nicom" / "tests" / "data" / name
    return gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()


def _rewrite(data: bytes, change) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(data))
        change(ds)
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _full_ct(ds: pydicom.Dataset) -> None:
    ds.Rows = ds.Columns = 512
    ds.PixelData = bytes(512 * 512 * 2)
    ds["PixelData"].VR = "OW"


def _small_frames(ds: pydicom.Dataset) -> None:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits = int(ds.BitsAllocated)
    ds.Rows = ds.Columns = 64
    ds.PixelData = bytes((64 * 64 * frames * samples * bits + 7) // 8)


def templates() -> dict[str, list[bytes]]:
    """The template files of each corpus, as bytes."""
    with open(get_testdata_file("CT_small.dcm"), "rb") as f:
        ct = _rewrite(f.read(), _full_ct)
    mr = [_nibabel_file(n) for n in ("0.dcm", "siemens_dwi_0.dcm.gz", "siemens_dwi_1000.dcm.gz")]
    enhanced = [_rewrite(_nibabel_file("philips_mprage.dcm.gz"), _small_frames)]
    for name in ("eCT_Supplemental.dcm", "liver.dcm"):
        with open(get_testdata_file(name), "rb") as f:
            enhanced.append(_rewrite(f.read(), _small_frames))
    return {"ct_explicit": [ct], "mr_implicit": mr, "enhanced": enhanced}


def _uids(data: bytes) -> list[bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    return [str(ds[k].value).encode() for k in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID")]


def _variant(data: bytes, uids: list[bytes], i: int) -> bytes:
    """``data`` with the tail of each UID's longest component replaced by ``i`` (same length: nothing moves)."""
    for k, uid in enumerate(uids):
        digits = b"9" + str(i // (1, 50, 500)[k]).encode()
        parts = uid.split(b".")
        at = max(range(len(parts)), key=lambda j: len(parts[j]))
        if len(parts[at]) > len(digits):
            parts[at] = parts[at][: len(parts[at]) - len(digits)] + digits
            data = data.replace(uid, b".".join(parts))
    return data


def build(out_dir: Path, n: int) -> dict[str, list[str]]:
    """Write the corpora (n files each) below ``out_dir`` unless present; return the file paths per corpus."""
    files: dict[str, list[str]] = {}
    made = None
    for corpus in CORPORA:
        folder = out_dir / corpus
        existing = sorted(str(p) for p in folder.glob("*.dcm")) if folder.is_dir() else []
        if len(existing) != n:
            made = made or templates()
            folder.mkdir(parents=True, exist_ok=True)
            for old in existing:
                os.unlink(old)
            sources = [(data, _uids(data)) for data in made[corpus]]
            existing = []
            for i in range(n):
                data, uids = sources[i % len(sources)]
                path = folder / f"{i:06d}.dcm"
                path.write_bytes(_variant(data, uids, i))
                existing.append(str(path))
        files[corpus] = existing
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args(argv)
    for corpus, paths in build(args.out_dir, args.n).items():
        size = sum(os.path.getsize(p) for p in paths)
        print(f"{corpus}: {len(paths)} files, {size / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
