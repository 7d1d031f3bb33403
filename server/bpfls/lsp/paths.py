"""Document URIs and file paths: the one place the server turns one into the other."""

from __future__ import annotations

import os

from pygls.uris import from_fs_path, to_fs_path


def fs_path(uri: str) -> str | None:
    """The normalised file path of a ``file:`` URI (None for a malformed one)."""
    try:
        p = to_fs_path(uri)
    except Exception:  # noqa: BLE001 - malformed URI
        return None
    return os.path.normpath(p) if p else None


def path_to_uri(path: str) -> str:
    return from_fs_path(path) or path


def untitled_path(uri: str, root: str | None) -> str:
    """A file path for a document that has none (``untitled:``): in the workspace root."""
    name = uri.rsplit("/", 1)[-1].rsplit(":", 1)[-1] or "untitled"
    if not name.endswith((".c", ".h")):
        name += ".bpf.c"
    return os.path.join(root or os.getcwd(), name)


def same_path(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    return a == b or os.path.normpath(a) == os.path.normpath(b)
