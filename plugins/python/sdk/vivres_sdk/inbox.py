"""The source's inbox: a read-only directory of export files at ``/inbox``.

The hub stores each file added to a source's inbox (``vivres inbox add``) as
``<seq:08>-<sha256>/<original name>``, ``seq`` being the arrival order; loose files
directly in the inbox (``vivres connector read --inbox dir``, the acceptance suite's
``fixtures/inbox``) come after them, by name. :func:`entries` lists both, as the Rust
SDK's ``inbox::files`` does; :func:`files` lists loose files only.
"""

from __future__ import annotations

import os
import re
from typing import List, NamedTuple, Tuple, Union

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


class InboxFile(NamedTuple):
    """One file of the inbox: ``id`` is unique (the stored entry's folder, or a loose
    file's name: keep it in the checkpoint), ``name`` the export's own file name
    (match on it), ``path`` where to open it."""

    id: str
    seq: int
    name: str
    path: str


_ENTRY = re.compile(r"^([0-9]+)-([0-9a-fA-F]{64})$")
_LOOSE = 2**64 - 1


def entries(suffixes: Tuple[str, ...] = (), prefix: str = "") -> List[InboxFile]:
    """Every file of the inbox, stored ones by arrival, then loose ones by name,
    filtered on their own names by prefix and suffixes (case-insensitive)."""
    return entries_in(directory(), suffixes, prefix)


def entries_in(root: str, suffixes: Tuple[str, ...] = (), prefix: str = "") -> List[InboxFile]:
    """:func:`entries` of any directory (native tests)."""
    stored, loose = [], []
    for entry in os.listdir(root):
        if entry.startswith("."):
            continue
        path = os.path.join(root, entry)
        if os.path.isfile(path):
            loose.append(InboxFile(entry, _LOOSE, entry, path))
            continue
        match = _ENTRY.match(entry)
        if not match or not os.path.isdir(path):
            continue
        inside = sorted(n for n in os.listdir(path) if not n.startswith(".") and os.path.isfile(os.path.join(path, n)))
        for name in inside:
            file_id = f"{entry}/{name}" if len(inside) > 1 else entry
            stored.append(InboxFile(file_id, int(match.group(1)), name, os.path.join(path, name)))
    stored.sort(key=lambda f: (f.seq, f.id))
    loose.sort(key=lambda f: f.name)

    def wanted(f: InboxFile) -> bool:
        low = f.name.lower()
        if prefix and not low.startswith(prefix.lower()):
            return False
        return not suffixes or low.endswith(tuple(s.lower() for s in suffixes))

    return [f for f in stored + loose if wanted(f)]


def _path(file: Union[str, InboxFile]) -> str:
    return file.path if isinstance(file, InboxFile) else os.path.join(directory(), file)


def read_bytes(name: Union[str, InboxFile]) -> bytes:
    """The bytes of a loose file by name, or of an :class:`InboxFile`."""
    with open(_path(name), "rb") as f:
        return f.read()


def read_text(name: Union[str, InboxFile]) -> Tuple[str, str]:
    """``(text, encoding)``: UTF-8, UTF-8 with BOM or Windows-1252, mojibake repaired."""
    return fr.decode_text(read_bytes(name))


def lines(name: Union[str, InboxFile]) -> List[Tuple[int, str]]:
    """``(line number from 1, line)`` of a text file, CRLF or LF, blank lines skipped."""
    text, _ = read_text(name)
    return [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
