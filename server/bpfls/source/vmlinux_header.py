"""What an included ``vmlinux*.h`` is, and so how the preprocessor treats it.

- :data:`KERNEL`: the ``bpftool btf dump ... format c`` of a configured kernel (its type
  definitions byte for byte, :mod:`bpfls.btf.dump_fingerprint`): not read, its types are that
  kernel's BTF.
- :data:`DUMP`: a header of :data:`DUMP_MIN_SIZE` or more with no ``#include`` that is no
  configured kernel's dump (the dump of another kernel, or an edited one): not read; its
  types are parsed once per content into BTF (:func:`bpfls.source.vmlinux.vmlinux_h_btf`),
  as reading that much on every analysis would be slow.
- :data:`HEADER`: anything else (a wrapper that includes a dump and adds its own definitions, a
  hand-trimmed header): read like any other header.

What a file on disk is, is kept by (path, modification time, size); unsaved editor text by its
content. Classifying on every analysis costs a ``stat`` and a few comparisons.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from bpfls.btf import Btf
from bpfls.btf.dump_fingerprint import DumpPrint, is_dump_of, text_print

KERNEL = "kernel"
DUMP = "dump"
HEADER = "header"

#: a header without ``#include`` at least this big is a dump, read through BTF once per
#: content (real dumps are megabytes; a trimmed header of a few hundred types is tens of
#: kilobytes, and reading it with the program costs tens of milliseconds)
DUMP_MIN_SIZE = 64 * 1024

_INCLUDE = re.compile(rb"^[ \t]*#[ \t]*(?:include|include_next|import)\b", re.M)


@dataclass(frozen=True)
class HeaderFacts:
    """What the text of a header says, independent of the configured kernels."""

    print: DumpPrint
    includes: bool  # it has an #include directive (a wrapper)
    size: int
    pai: bool  # it names preserve_access_index (bpftool's pragma around the types)
    #: what a dump declares after its types (bpftool >= 7.5: the ``__ksym``/``__weak``
    #: macros and the kfuncs' prototypes): the lines before it, and its text
    tail: tuple[int, bytes] | None = None


@dataclass(frozen=True)
class Classified:
    kind: str  # KERNEL, DUMP or HEADER
    kernel: str | None = None  # KERNEL: the configured kernel's name
    btf: Btf | None = None  # KERNEL: its BTF
    pai: bool = True  # KERNEL, DUMP: its types are preserve_access_index (by its pragma)
    tail: tuple[int, bytes] | None = None  # KERNEL, DUMP: :attr:`HeaderFacts.tail`


_MAX_ENTRIES = 64
_BY_STAT: dict[str, tuple[int, int, HeaderFacts]] = {}
_BY_TEXT: dict[tuple[str, int, int], HeaderFacts] = {}
_LOCK = threading.Lock()


def facts_of(data: bytes) -> HeaderFacts:
    return HeaderFacts(text_print(data), _INCLUDE.search(data) is not None, len(data),
                       b"preserve_access_index" in data, dump_tail(data))


_PAI_END = re.compile(rb"^[ \t]*#[ \t]*pragma[ \t]+clang[ \t]+attribute[ \t]+pop\b[^\n]*\n"
                      rb"[ \t]*#[ \t]*endif\b[^\n]*\n", re.M)
_LAST_ENDIF = re.compile(rb"^[ \t]*#[ \t]*endif\b[^\n]*\s*\Z", re.M)


def dump_tail(data: bytes) -> tuple[int, bytes] | None:
    """What a dump declares after its types and before its include guard's ``#endif``, when
    it declares ksyms (newer ``bpftool``s add the kfuncs' prototypes there): (the lines
    before it, its text)."""
    if b"__ksym" not in data:
        return None
    ends = list(_PAI_END.finditer(data))
    if not ends:
        return None
    last = ends[-1]
    end = _LAST_ENDIF.search(data, last.end())
    text = data[last.end():end.start() if end is not None else len(data)]
    if b"__ksym" not in text:
        return None
    return data.count(b"\n", 0, last.end()), text


def header_facts(path: str, text: str | None = None) -> HeaderFacts | None:
    """The facts of the header at ``path`` (``text``: its unsaved content), or None when it
    cannot be read."""
    if text is not None:
        key = (path, len(text), hash(text))
        hit = _BY_TEXT.get(key)
        if hit is None:
            hit = facts_of(text.encode("utf-8", "surrogateescape"))
            with _LOCK:
                if len(_BY_TEXT) >= _MAX_ENTRIES:
                    _BY_TEXT.clear()
                _BY_TEXT[key] = hit
        return hit
    try:
        st = os.stat(path)
    except OSError:
        return None
    known = _BY_STAT.get(path)
    if known is not None and known[:2] == (st.st_mtime_ns, st.st_size):
        return known[2]
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    facts = facts_of(data)
    with _LOCK:
        if len(_BY_STAT) >= _MAX_ENTRIES:
            _BY_STAT.clear()
        _BY_STAT[path] = (st.st_mtime_ns, st.st_size, facts)
    return facts


def classify(path: str, text: str | None,
             kernels: Sequence[tuple[str | None, Btf]]) -> Classified:
    """What the ``vmlinux*.h`` at ``path`` is, given the configured ``kernels`` (name, BTF),
    the likeliest first."""
    facts = header_facts(path, text)
    if facts is None or facts.includes:
        return Classified(HEADER)
    for name, btf in kernels:
        try:
            same = is_dump_of(facts.print, btf)
        except Exception:  # noqa: BLE001 - a kernel that cannot be dumped matches no header
            same = False
        if same:
            return Classified(KERNEL, name, btf, facts.pai, facts.tail)
    if facts.size >= DUMP_MIN_SIZE:
        return Classified(DUMP, pai=facts.pai, tail=facts.tail)
    return Classified(HEADER)


def clear_caches() -> None:
    with _LOCK:
        _BY_STAT.clear()
        _BY_TEXT.clear()
