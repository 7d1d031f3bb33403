"""A ``vmlinux.h`` as BTF, for a program whose header is the dump of no configured kernel (a
project that ships the header but not the kernel's BTF, or one dumped from another kernel):
:mod:`bpfls.source.vmlinux_header` says which headers are read this way.

The header is plain C written by ``bpftool btf dump ... format c``; it goes through the same
preprocessor, parser and type builder as the program, so member offsets are computed the way
clang computes them from the header (bpftool spells out padding, ``packed`` and bit-fields).
The result is cached in memory and on disk (``<cache>/<sha256>.vmlinux-h.btf``, the cache
directory of :mod:`bpfls.btf.cache`), keyed by the header's content; its type-offset and name
tables go to the index cache like a kernel's.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading

from bpfls.btf import Btf
from bpfls.btf.cache import cache_dir
from bpfls.source.cparse import parse
from bpfls.source.localtypes import LocalTypes
from bpfls.source.mask import mask_units
from bpfls.source.preprocess import Preprocessor

FORMAT_VERSION = 1
MEMORY_ENTRIES = 4  # headers kept decoded in memory (one per architecture is typical)
_MEMORY: dict[str, Btf] = {}
_LOCK = threading.Lock()


_BY_STAT: dict[str, tuple[int, int, str]] = {}


def vmlinux_h_btf(path: str, *, use_cache: bool = True) -> Btf:
    """The BTF of the types a ``vmlinux.h`` declares (built once per content)."""
    try:
        st = os.stat(path)
        known = _BY_STAT.get(path)
    except OSError:
        st = None
        known = None
    if known is not None and st is not None and known[:2] == (st.st_mtime_ns, st.st_size):
        hit = _MEMORY.get(known[2])
        if hit is not None:
            return hit
    with open(path, "rb") as f:
        data = f.read()
    key = f"{hashlib.sha256(data).hexdigest()}-v{FORMAT_VERSION}"
    if st is not None:
        _BY_STAT[path] = (st.st_mtime_ns, st.st_size, key)
    with _LOCK:
        hit = _MEMORY.get(key)
        if hit is not None:
            return hit
        d = cache_dir() if use_cache else None
        cached = d / f"{key}.vmlinux-h.btf" if d is not None else None
        if cached is not None:
            try:
                btf = Btf(cached.read_bytes(), path=f"{path} (cached)", origin="vmlinux.h",
                          use_cache=True)
                _remember(key, btf)
                return btf
            except Exception:  # noqa: BLE001 - a bad cache entry is rebuilt
                pass
        raw = header_to_btf(path, data)
        if cached is not None:
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=".tmp-")
                with os.fdopen(fd, "wb") as f:
                    f.write(raw)
                os.replace(tmp, cached)
            except OSError:
                pass
        btf = Btf(raw, path=path, origin="vmlinux.h", use_cache=use_cache)
        _remember(key, btf)
        return btf


def _remember(key: str, btf: Btf) -> None:
    while len(_MEMORY) >= MEMORY_ENTRIES:
        _MEMORY.pop(next(iter(_MEMORY)))
    _MEMORY[key] = btf


def header_to_btf(path: str, data: bytes) -> bytes:
    """Raw BTF of every type a C header defines."""
    pp = Preprocessor()
    res = pp.run(path, data)
    mask_units(res.units, res.macros)
    lt = LocalTypes(None, res.macros)
    trees = []
    for u in res.units:
        tree = parse(bytes(u.code))
        trees.append(tree)
        lt.collect(u, tree.root_node)
    lt.build()
    return lt.raw
