"""The source's inbox: a read-only directory of export files at ``/inbox``."""

from __future__ import annotations

import os
from typing import List, Tuple

from . import fr
from .errors import BadConfig


def directory() -> str:
    """The inbox path, or ``BadConfig`` when the source has none."""
    from wit_world.imports import host

    path = host.inbox_dir()
    if path is None:
        raise BadConfig("this source has no inbox: set `inbox` in its configuration")
    return path


def files(suffixes: Tuple[str, ...] = (), prefix: str = "") -> List[str]:
    """File names in the inbox, sorted, filtered by prefix and suffixes (case-insensitive)."""
    root = directory()
    names = []
    for name in os.listdir(root):
        low = name.lower()
        if name.startswith(".") or not os.path.isfile(os.path.join(root, name)):
            continue
        if prefix and not low.startswith(prefix.lower()):
            continue
        if suffixes and not low.endswith(tuple(s.lower() for s in suffixes)):
            continue
        names.append(name)
    return sorted(names)


def read_bytes(name: str) -> bytes:
    with open(os.path.join(directory(), name), "rb") as f:
        return f.read()


def read_text(name: str) -> Tuple[str, str]:
    """``(text, encoding)``: UTF-8, UTF-8 with BOM or Windows-1252, mojibake repaired."""
    return fr.decode_text(read_bytes(name))


def lines(name: str) -> List[Tuple[int, str]]:
    """``(line number from 1, line)`` of a text file, CRLF or LF, blank lines skipped."""
    text, _ = read_text(name)
    return [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
