"""On-disk caches, keyed by content hash: the type-offset table and the hashed name tables
of BTF, and the decompressed bytes of compressed raw BTF (the bundled kernels are xz files).

The only eager work when loading BTF is one pass over the type section to find where each
record starts; the first name lookups would scan the string table. For a kernel that is loaded
again (every editor start, every CI run) the table and the name tables
(:mod:`bpfls.btf.nameindex`) are read back from ``$XDG_CACHE_HOME/bpfls/btf/<sha256>.idx``
instead, ``<sha256>`` being the hash of the file's bytes (of the compressed file for a
compressed kernel, whose decompressed bytes are ``<sha256>.btf`` beside it and are mapped, not
read). The cache is an optimisation only: a missing, unreadable, stale or corrupt entry is
ignored and rewritten; entries are replaced atomically, never rewritten in place.
Set ``BPFLS_NO_CACHE=1`` to disable it, ``BPFLS_CACHE_DIR`` to move it.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
import sys
import tempfile
from array import array
from pathlib import Path

_MAGIC = b"BPFLSIDX"
_VERSION = 3
_HEAD = struct.Struct("<8sII")  # magic, version, number of records


def cache_dir() -> Path | None:
    if os.environ.get("BPFLS_NO_CACHE"):
        return None
    d = os.environ.get("BPFLS_CACHE_DIR")
    if d:
        return Path(d) / "btf"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bpfls" / "btf"


def content_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_index(key: str) -> tuple[array, bytes, bytes] | None:
    """The cached (record offsets, name offsets, name tables) for BTF with this content hash, if
    any (the name tables as :func:`bpfls.btf.nameindex.to_bytes` wrote them)."""
    d = cache_dir()
    if d is None:
        return None
    try:
        raw = (d / f"{key}.idx").read_bytes()
    except OSError:
        return None
    if len(raw) < _HEAD.size:
        return None
    magic, version, n = _HEAD.unpack_from(raw)
    if magic != _MAGIC or version != _VERSION or len(raw) < _HEAD.size + 8 * n:
        return None
    offs = array("I")
    offs.frombytes(raw[_HEAD.size:_HEAD.size + 4 * n])
    names = raw[_HEAD.size + 4 * n:_HEAD.size + 8 * n]
    tables = raw[_HEAD.size + 8 * n:]
    if sys.byteorder != "little":
        offs.byteswap()
        swapped = array("I")
        swapped.frombytes(names)
        swapped.byteswap()
        names = swapped.tobytes()
    return offs, names, tables


def store_index(key: str, offs: array, names: bytes, tables: bytes = b"") -> None:
    d = cache_dir()
    if d is None:
        return
    o = array("I", offs)
    nm = array("I")
    nm.frombytes(names)
    if sys.byteorder != "little":
        o.byteswap()
        nm.byteswap()
    _write(d / f"{key}.idx",
           _HEAD.pack(_MAGIC, _VERSION, len(o)) + o.tobytes() + nm.tobytes() + tables)


def _write(path: Path, payload: bytes) -> None:
    """Write atomically; a read-only or full cache directory only costs speed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except OSError:
        pass


def load_entry(name: str) -> bytes | None:
    """A small cache entry written by :func:`store_entry`, if any."""
    d = cache_dir()
    if d is None:
        return None
    try:
        return (d / name).read_bytes()
    except OSError:
        return None


def store_entry(name: str, payload: bytes) -> None:
    """Write a small cache entry (``name``: a file name holding a content hash)."""
    d = cache_dir()
    if d is not None:
        _write(d / name, payload)


def load_blob(key: str) -> bytes | memoryview | None:
    """The decompressed raw BTF of a compressed file with this content hash, if cached.

    The file is mapped, not read: only the pages that lookups touch are ever loaded. Entries
    are replaced atomically (never rewritten in place), so a mapping stays valid."""
    d = cache_dir()
    if d is None:
        return None
    path = d / f"{key}.btf"
    try:
        with open(path, "rb") as f:
            try:
                data: bytes | memoryview = memoryview(
                    mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
            except (OSError, ValueError):  # an empty file, or no mmap here
                data = f.read()
    except OSError:
        return None
    return data if bytes(data[:2]) in (b"\x9f\xeb", b"\xeb\x9f") else None


def store_blob(key: str, data: bytes) -> None:
    d = cache_dir()
    if d is not None:
        _write(d / f"{key}.btf", data)
