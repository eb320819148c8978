"""The ETL's per-file fast paths give what the full way gives: the path check that skips the substitutions when
a path holds none of the identifiers (``rcdm.dicom.deid._nothing_to_scrub``) and the batch's memo of the values
its images share (``rcdm.etl.transform``), on hostile paths and values and on the bundled files."""

from __future__ import annotations

import random

import pytest

from rcdm.dicom import deid

IDS = ("MRN778899", "sample0001", "AİB", "K12", "ß-77", "a.b", "x+y")
ACCESSIONS = ("ACC123", "2024.01.02.03", "İSTANBUL9")
NAMES = ("lee", "mary ann", "i̇brahim", "홍길동", "straße", "o'neil", "sſs")
DATES = ("19610412", "1961-04-12", "1961/04/12", "1961.04.12")
UIDS = ("1.2.840.10008.5.1.4.1.1.2", "1.2.3", "9.9.9.9.9")
PIECES = IDS + ACCESSIONS + NAMES + DATES + UIDS + (
    "sleep_study", "CT", "ct-", "_", ".", "-", " ", "..", "dcm", ".dcm", "1.2.3.4", "01.02.03.04x", "X1.2.3.4",
    "K", "k", "İ", "i", "ı", "ẞ", "SS", "\udcff", "\udce9", "ç", "MRN", "778899", "Lee", "LEE", "LEEK", "ann",
    "19610412X", "2019", "0412", "{uid}", "a", "b", "0", "9")


def _hostile_path(rng: random.Random) -> str:
    components = []
    for _ in range(rng.randint(1, 4)):
        pieces = [rng.choice(PIECES) for _ in range(rng.randint(1, 4))]
        words = [p if deid.undecodable(p) else rng.choice((str.lower, str.upper, str, str.title))(p) for p in pieces]
        components.append("".join(words))
    return "/".join(components)


def _full_way(monkeypatch) -> None:
    monkeypatch.setattr(deid, "_nothing_to_scrub", lambda *args: False)


@pytest.mark.parametrize("seed", range(4))
def test_the_path_fast_path_gives_what_the_full_way_gives_on_hostile_paths(seed, monkeypatch):
    rng = random.Random(seed)
    cases = []
    for _ in range(5000):
        path = _hostile_path(rng)
        identity = (tuple(rng.sample(IDS, rng.randint(0, 2))), tuple(rng.sample(NAMES, rng.randint(0, 3))),
                    tuple(rng.sample(DATES, rng.randint(0, 2))), rng.random() < 0.5,
                    tuple(rng.sample(UIDS, rng.randint(0, 3))), tuple(rng.sample(ACCESSIONS, rng.randint(0, 2))))
        cases.append((path, identity))
    fast = [deid.sanitize_path(path, *identity) for path, identity in cases]
    taken = sum(deid._nothing_to_scrub(path, identity[0], identity[5], identity[1], identity[2], identity[4])
                for path, identity in cases)
    _full_way(monkeypatch)
    assert fast == [deid.sanitize_path(path, *identity) for path, identity in cases]
    assert taken > 100  # the fast path was taken, not only the full way compared with itself


def test_the_path_fast_path_never_passes_an_identifier():
    ids, names, dates, uids, accessions = ("MRN778899",), ("lee",), ("1961-04-12",), ("1.2.3.4.5",), ("ACC123",)
    for path in ("mrn778899/1.dcm", "a/LEE/1.dcm", "a/1961-04-12/1.dcm", "a/1.2.3.4.5.dcm", "a/acc123/1.dcm",
                 "a/9.8.7.6/1.dcm", "AİB/1.dcm"):
        assert not deid._nothing_to_scrub(path, ids + ("AIB",), accessions, names, dates, uids), path
    assert deid._nothing_to_scrub("0001/0000503.dcm", ids, accessions, names, dates, uids)
    assert deid.sanitize_path("AİB/1.dcm", ("AIB",)) == ("{patient_id}/1.dcm", False)  # full way: case-folded
