"""``FileWatch``: notices that the secrets file or the exclusion map changed, once it is still.

A file is looked at (``os.stat``: device, inode, modification time, size, mode) on each
``settled()`` call, once a second from the daemon's housekeeping. A change, in place or by a
rename over the file, is reported only when the next look finds the files exactly as the
previous one did: a file still being written (truncated, then written a piece at a time, as an
editor or ``echo >`` does) keeps changing and is not read half-written. So a change is applied
one to two looks after the last write. ``seen(signatures)`` records what a reload read.
"""

from __future__ import annotations

import os
from pathlib import Path

FileSignature = tuple[int, int, int, int, int] | None
Signatures = tuple[FileSignature, ...]


def signature(path: Path | None) -> FileSignature:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode)


def signatures(paths: tuple[Path | None, ...]) -> Signatures:
    return tuple(signature(path) for path in paths)


class FileWatch:
    def __init__(self, *paths: Path | None) -> None:
        self.paths = paths
        self.read = signatures(paths)  # as the files were when last read
        self._last: Signatures | None = None  # a change seen at the previous look

    def seen(self, paths: tuple[Path | None, ...], read: Signatures) -> None:
        """A reload read ``paths`` as ``read`` (taken before reading them)."""
        self.paths, self.read, self._last = paths, read, None

    def settled(self) -> bool:
        """True when the files differ from what was read and have not changed since the
        previous look."""
        now = signatures(self.paths)
        if now == self.read:
            self._last = None
            return False
        if now != self._last:
            self._last = now  # changed since the previous look: maybe still being written
            return False
        return True
