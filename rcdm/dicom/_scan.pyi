from typing import Any

API: int
STEP_DONE: int
STEP_NEED: int
STEP_GENERAL: int
STEP_ORDER: int
STEP_UNUSUAL: int
STEP_FRAMES: int

class Scanner:
    def __init__(self, wanted: dict[int, Any], first: int, last: int, implicit: bool = ..., little: bool = ...,
                 vrs: dict[int, Any] | None = ..., sequences: bool = ...) -> None: ...
    def scan(self, buf: bytes, pos: int, last_tag: int, out: dict[str, Any], done: dict[str, Any] | None,
             base: int = ..., /) -> tuple[int, int, int, int]: ...

def skip_items(buf: bytes, pos: int, implicit: bool, little: bool, base: int = ..., /) -> tuple[int, int]: ...

FILE_NEED: int
FILE_RECORD: int
FILE_HANDOVER: int
FILE_FALLBACK: int
RECORD_FIELDS: int

class FileWalk:
    def __init__(self, spec: tuple[Any, ...], /) -> None: ...
    def step(self, buf: bytes, base: int, size: int, /) -> tuple[int, Any, int]: ...
