"""Real programs as objects: the shared corpus compiled.

Every program of ``../shared/corpus`` (public projects' BPF programs) is compiled once per
session (``conftest.shared_corpus``: clang-16, the 6.12-amd64 sample kernel's ``vmlinux.h``);
every one must compile.
"""

from __future__ import annotations

import pytest
from shared_corpus import CLANG, SharedCorpus

pytestmark = [pytest.mark.shared, pytest.mark.oracle]


def test_every_program_compiles(shared_corpus: SharedCorpus, record_property) -> None:
    c = shared_corpus
    record_property("build_seconds", round(c.build_seconds, 1))
    record_property("objects", len(c.objects))
    print(f"\nshared corpus: {len(c.objects)} of {len(c.projects)} programs compiled with "
          f"{CLANG} in {c.build_seconds:.1f} s")
    assert not c.failed, "programs that did not compile:\n" + "\n".join(
        f"  {name}: {error}" for name, error in sorted(c.failed.items()))
