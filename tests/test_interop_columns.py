"""rcdm.interop's numpy-free column formats for R (reticulate 1.28 reads no numpy 2 array): what columns_for_r
sends and table_from_r takes, checked byte for byte (the R side is run by test_r_package.py)."""

from __future__ import annotations

import datetime as dt
import struct

import pandas as pd

from rcdm.interop import columns_for_r, table_from_r


def _doubles(raw: bytearray) -> list[float]:
    return list(struct.unpack(f"<{len(raw) // 8}d", bytes(raw)))


def test_columns_cross_as_bytes_strings_and_masks():
    frame = pd.DataFrame({
        "n": pd.array([1, None], dtype="Int64"), "x": [1.5, 2.0], "d": [dt.date(1970, 1, 3), None],
        "t": pd.to_datetime(["1970-01-01 00:00:10", None]), "s": ["é", None], "f": [True, False],
        "radiology_image_id": [2 ** 62 + 1, 5],
    })
    out = columns_for_r(frame)
    assert out["rcdm_columns"] is True and out["rows"] == 2
    kinds = dict(zip(out["names"], out["kinds"]))
    assert kinds == {"n": "double", "x": "double", "d": "date", "t": "datetime", "s": "character",
                     "f": "logical", "radiology_image_id": "character"}
    values = dict(zip(out["names"], out["values"]))
    masks = dict(zip(out["names"], out["missing"]))
    assert all(isinstance(values[k], bytearray) for k in ("n", "x", "d", "t", "f"))
    assert _doubles(values["x"]) == [1.5, 2.0] and masks["x"] is None
    assert _doubles(values["d"])[0] == 2.0 and bytes(masks["d"]) == b"\x00\x01"
    assert _doubles(values["t"])[0] == 10.0 and bytes(masks["t"]) == b"\x00\x01"
    assert values["s"] == "é\x1f\x1f." and bytes(masks["s"]) == b"\x00\x01"
    assert values["radiology_image_id"].split("\x1f")[:2] == [str(2 ** 62 + 1), "5"]  # exact, as text
    assert bytes(values["f"]) == b"\x01\x00"
    nested = columns_for_r({"a": frame.iloc[:0], "b": 3})
    assert nested["b"] == 3 and nested["a"]["rows"] == 0


def test_a_value_holding_the_separator_goes_as_a_list():
    out = columns_for_r(pd.DataFrame({"s": ["a\x1fb", "c"]}))
    assert out["kinds"] == ["characters"] and out["values"] == [["a\x1fb", "c"]]


def test_table_from_r_reads_bytes_joined_text_and_byte_masks():
    table = table_from_r(
        ["i", "x", "s", "radiology_image_id", "l", "d"],
        ["integer", "double", "character", "character", "logical", "date"],
        [struct.pack("<2i", 5, 0), struct.pack("<2d", 1.5, 0), "x\x1f", f"{2 ** 62 + 1}\x1f5",
         bytearray([1, 0]), struct.pack("<2d", 18262.0, 0)],
        [bytearray([0, 1])] * 3 + [bytearray([0, 0])] + [bytearray([0, 1])] * 2)
    assert table.to_pylist() == [
        {"i": 5, "x": 1.5, "s": "x", "radiology_image_id": 2 ** 62 + 1, "l": True, "d": dt.date(2020, 1, 1)},
        {"i": None, "x": None, "s": None, "radiology_image_id": 5, "l": None, "d": None}]
    assert table_from_r(["s"], ["character"], [""], [bytearray()]).num_rows == 0
    assert table_from_r(["s"], ["character"], [["a\x1fb"]], [[False]]).to_pylist() == [{"s": "a\x1fb"}]
