"""Essential names and flavors (libbpf ``bpf_core_essential_name_len``).

A *flavor* is the ``___suffix`` of a local type, field-less enumerator or member name:
``task_struct___o`` has essential name ``task_struct`` and flavor ``o``. libbpf cuts at the
**last** ``X___Y`` where neither X nor Y is an underscore, so ``foo____bar``, ``foo___`` and
``a__b`` have no flavor.
"""

from __future__ import annotations

from functools import lru_cache


def _is_flavor_sep(name: str, i: int) -> bool:
    return (name[i] != "_" and name[i + 1] == "_" and name[i + 2] == "_" and name[i + 3] == "_"
            and name[i + 4] != "_")


@lru_cache(maxsize=65536)
def essential_len(name: str) -> int:
    """Length of the essential part of ``name`` (``bpf_core_essential_name_len``)."""
    i = name.rfind("___")
    if i < 0:
        return len(name)
    for j in range(len(name) - 5, -1, -1):
        if _is_flavor_sep(name, j):
            return j + 1
    return len(name)


def essential_name(name: str) -> str:
    """``task_struct___o`` → ``task_struct``; names without a flavor are returned as is."""
    return name[:essential_len(name)]


def flavor_of(name: str) -> str | None:
    """``task_struct___o`` → ``"o"``; ``None`` when the name has no flavor."""
    n = essential_len(name)
    return name[n + 3:] if n < len(name) else None


def names_match(local: str, target: str) -> bool:
    """``bpf_core_names_match``: an anonymous target needs an anonymous local; otherwise the
    essential names must be equal."""
    if not target:
        return not local
    return essential_name(local) == essential_name(target)
