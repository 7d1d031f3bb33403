"""Texts of files by path, for answers that point into them (definitions, quick-fix edits,
diagnostics found in headers): open documents as the editor has them, other files from disk.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

from bpfls.lsp.documents import Document, Snapshot


class FileCache:
    """Snapshots of files read from disk, the last few kept (keyed by path, size, mtime and
    encoding). Thread-safe: used from the worker threads."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[tuple, Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    def snapshot(self, path: str, encoding: str) -> Snapshot | None:
        """The file's text as it is on disk (None when it cannot be read)."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (path, st.st_size, st.st_mtime_ns, encoding)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                snap = Snapshot(f.read(), None, encoding)
        except OSError:
            return None
        with self._lock:
            self._items[key] = snap
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return snap


def snapshots_of(docs: Iterable[Document], files: FileCache,
                 encoding: str) -> Callable[[str], Snapshot | None]:
    """path → snapshot: the open documents ``docs`` as the editor has them, other files from
    disk. Built on the event loop, usable from a worker thread."""
    open_docs = {os.path.normpath(d.path): d.snapshot() for d in docs if d.path is not None}

    def of(path: str) -> Snapshot | None:
        return open_docs.get(os.path.normpath(path)) or files.snapshot(path, encoding)
    return of
