"""Generate N realistic DICOM files (CT, MR, CR with full-size pixel data and varied tags) for benchmarks.

    python extras/benchmarks/make_corpus.py OUT_DIR --n 2000 [--seed 0] [--mix CT=6,MR=3,CR=1] [--matrix 128]

Headers come from pydicom's bundled CT_small.dcm (GE, ~250 elements with private groups), MR_small.dcm and
a CR from its DICOMDIR tests; pixel data is replaced by a full-size matrix (CT 512x512, MR 256x256,
CR 1024x1024, 16 bit; ``--matrix N``: N x N for all, e.g. 128 for 38 KB CT files as CT_small.dcm ships). Files
are written one at a time (streaming): memory stays flat for any N.
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from pathlib import Path

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from rcdm.dicom.sample import template_path

SIZES = {"CT": 512, "MR": 256, "CR": 1024}
BODY_PARTS = {"CT": ("HEAD", "CHEST", "ABDOMEN", "NECK"), "MR": ("BRAIN", "KNEE", "CSPINE"), "CR": ("CHEST", "HAND")}
DESCRIPTIONS = {
    "CT": ("CT HEAD W/O CONTRAST", "CT CHEST C+", "CT ABDOMEN PELVIS W/ CONTRAST", "CT NECK"),
    "MR": ("MRI BRAIN W/O AND W/ GD", "MR KNEE", "MR C-SPINE"),
    "CR": ("CHEST PA", "HAND 2 VIEWS"),
}
ORIENTATIONS = ((1, 0, 0, 0, 1, 0), (1, 0, 0, 0, 0, -1), (0, 1, 0, 0, 0, -1))


def parse_mix(text: str) -> list[tuple[str, float]]:
    mix = []
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name not in SIZES:
            raise SystemExit(f"unknown modality {name!r} in --mix; use {', '.join(SIZES)}")
        mix.append((name, float(weight or 1)))
    return mix


def templates(matrix: int | None = None) -> dict[str, pydicom.Dataset]:
    out = {}
    for modality in SIZES:
        ds = pydicom.dcmread(template_path(modality))
        size = matrix or SIZES[modality]
        ds.Rows = ds.Columns = size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelRepresentation = 0
        ds.PixelData = bytes(size * size * 2)
        ds["PixelData"].VR = "OW"
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        out[modality] = ds
    return out


def make_corpus(out_dir: Path, n: int, seed: int = 0, mix: str = "CT=6,MR=3,CR=1", matrix: int | None = None) -> int:
    """Write ``n`` files below ``out_dir`` (pixel matrix ``matrix`` x ``matrix`` if given); returns the bytes
    written."""
    rng = random.Random(seed)
    weights = parse_mix(mix)
    names, w = zip(*weights)
    base = templates(matrix)
    written = 0
    study_uid = series_uid = ""
    for i in range(n):
        modality = rng.choices(names, w)[0]
        if i % 50 == 0 or not study_uid:
            study_uid = generate_uid(entropy_srcs=[str(seed), "study", str(i)])
            patient = f"BENCH{rng.randint(1, max(1, n // 100)):05d}"
            date = f"{rng.randint(2010, 2024)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        if i % 10 == 0 or not series_uid:
            series_uid = generate_uid(entropy_srcs=[str(seed), "series", str(i)])
            orientation = rng.choice(ORIENTATIONS)
            contrast = rng.random() < 0.4
        ds = copy.copy(base[modality])  # shallow: the element values are replaced below, pixels are shared
        ds.file_meta = copy.copy(base[modality].file_meta)
        sop_uid = generate_uid(entropy_srcs=[str(seed), "sop", str(i)])
        ds.PatientID = patient
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_uid, series_uid, sop_uid
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.StudyDate = ds.SeriesDate = date
        ds.Modality = modality
        ds.BodyPartExamined = rng.choice(BODY_PARTS[modality])
        ds.StudyDescription = rng.choice(DESCRIPTIONS[modality])
        ds.InstanceNumber = i % 10 + 1
        if modality != "CR":
            ds.ImageOrientationPatient = list(orientation)
        if contrast:
            ds.ContrastBolusAgent = "OMNIPAQUE 300"
        elif "ContrastBolusAgent" in ds:
            del ds.ContrastBolusAgent
        folder = out_dir / f"{i // 500:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:07d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        written += path.stat().st_size
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--n", type=int, default=2000, help="number of files (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mix", default="CT=6,MR=3,CR=1", help="modality weights (default CT=6,MR=3,CR=1)")
    parser.add_argument("--matrix", type=int, default=None, help="pixel matrix N x N for every modality")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    size = make_corpus(args.out_dir, args.n, args.seed, args.mix, args.matrix)
    print(f"wrote {args.n} files, {size / 1e6:.0f} MB, in {time.perf_counter() - start:.1f} s to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
