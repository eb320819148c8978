"""Stream the files of a load in a deterministic order, without ever listing the whole archive."""

from __future__ import annotations

import operator
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from rcdm.errors import UsageError
from rcdm.etl.transform import FileEntry, file_key


def iter_files(paths: Iterable[str | os.PathLike[str]], file_list: str | os.PathLike[str] | None = None
               ) -> Iterator[str]:
    """Yield every file under ``paths`` (files or directories), then every path listed in ``file_list``.

    Directories are walked depth-first with ``os.scandir``, the entries of each directory sorted by name, so
    two runs over the same tree see the files in the same order. Symbolic links to files are followed;
    symbolic links to directories are followed once (a link back into a directory being walked is a loop
    and is not entered). A broken link, or anything else that is not a directory, is yielded as it is, so
    the reader skips or quarantines it with a reason. Only the current path of directories is kept in
    memory, never the whole list. ``file_list`` is a text file with one path per line (blank lines and
    lines starting with ``#`` are ignored).
    """
    for path in paths:
        text = os.fspath(path)
        if not os.path.lexists(text):
            raise UsageError(f"No such file or directory: {text}")
        if os.path.isdir(text):
            yield from _walk(text, set())
        else:
            yield text
    if file_list is not None:
        listing = Path(file_list)
        if not listing.is_file():
            raise UsageError(f"No such file list: {listing}")
        with open(listing, encoding="utf-8") as f:
            for line in f:
                entry = line.rstrip("\r\n")
                if entry.strip() and not entry.lstrip().startswith("#"):
                    yield entry


_NAME = operator.attrgetter("name")
"""The sort key of a directory's entries (a C getter: no Python call an entry)."""


def _walk(directory: str, active: set[tuple[int, int]]) -> Iterator[str]:
    """Depth-first, sorted; ``active`` holds the (device, inode) of the directories being walked (loop guard)."""
    try:
        st = os.stat(directory)
    except OSError:
        yield directory  # vanished or unreadable: let the reader report it
        return
    key = (st.st_dev, st.st_ino)
    if key in active:
        return  # a symbolic link back into a directory being walked
    active.add(key)
    try:
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=_NAME)
        except OSError:
            yield directory  # unreadable directory: the reader quarantines it (not_a_file / unreadable)
            return
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                yield from _walk(entry.path, active)
            else:
                yield entry.path
    finally:
        active.discard(key)


def complete_entries(entries: list[FileEntry], secret: bytes) -> list[FileEntry]:
    """Entries with their key filled in where the walk left it out (an empty ``file_key``: a run into a schema
    that knows no file yet needs no key to decide what to read, so the workers compute it, in parallel, rather
    than the main process). Their size and mtime, left out too, ``process_batch`` takes from the file it opens
    (``os.fstat``: no second look-up of the path)."""
    return [entry if entry.file_key else entry._replace(file_key=file_key(entry.file_path, secret))
            for entry in entries]
