"""The translator's output on the whole differential corpus, for all 10 targets, equals the recorded one byte for byte.

Speed work on the translator (one shared walk, skipped transforms, caches) must not change a single output. A change
that alters translations on purpose rebuilds the record with ``python tests/translation_record.py``.
"""

from __future__ import annotations

import difflib

from translation_record import load_record, translations


def test_every_translation_equals_the_record():
    recorded, current = load_record(), translations()
    assert set(current) == set(recorded), f"cases added or gone: {sorted(set(current) ^ set(recorded))[:10]}"
    changed = [key for key in recorded if current[key] != recorded[key]]
    detail = "\n\n".join(
        f"{key}:\n" + "\n".join(difflib.unified_diff(recorded[key].splitlines(), current[key].splitlines(),
                                                     "recorded", "now", lineterm="", n=1))
        for key in changed[:5]
    )
    assert not changed, f"{len(changed)} of {len(recorded)} translations changed:\n{detail}"
