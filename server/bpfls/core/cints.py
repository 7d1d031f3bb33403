"""Integer type names as clang's BPF backend writes them into a program's BTF.

Clang names integer types its own way (``unsigned long``, ``short``, ``long long``) and marks
``char`` signed; a GCC-built kernel's BTF (pahole) says ``long unsigned int``, ``short int``,
``long long int`` and may leave ``char`` without a sign. Types a program takes from
``vmlinux.h`` reach its BTF in clang's spelling, which matters where libbpf compares integer
names and signedness (``bpf_core_type_matches``, core-semantics §4).
"""

from __future__ import annotations

from bpfls.btf.model import INT_SIGNED

_C_WORDS = frozenset({"unsigned", "signed", "short", "long", "int", "char", "__int128"})


def canonical_int(name: str) -> str:
    """The C type an integer type name denotes, in clang's spelling: ``long unsigned int`` →
    ``unsigned long``, ``short int`` → ``short``, ``signed`` → ``int``. Names that are not C
    base-type spellings are returned unchanged."""
    words = name.split()
    if not words or not set(words) <= _C_WORDS:
        return name
    unsigned = "unsigned" in words
    if "char" in words:
        return "unsigned char" if unsigned else "signed char" if "signed" in words else "char"
    if "__int128" in words:
        base = "__int128"
    elif "short" in words:
        base = "short"
    elif words.count("long") == 2:
        base = "long long"
    elif "long" in words:
        base = "long"
    else:
        base = "int"
    return f"unsigned {base}" if unsigned else base


def clang_int(name: str, encoding: int) -> tuple[str, bool]:
    """The name and signedness clang's BPF BTF gives an integer type: its own spelling, and
    ``char`` signed (BPF's plain ``char`` is signed; ``_Bool`` and unsigned types are not)."""
    if not set(name.split()) <= _C_WORDS:
        return name, bool(encoding & INT_SIGNED)
    c = canonical_int(name)
    return c, not c.startswith("unsigned")
