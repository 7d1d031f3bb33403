"""The shared corpus's objects as ``bench/object_bench.py`` compiles them into
``.cache/shared-corpus/objects``, for the tests that read many objects without building them
(skipped when the corpus or the build is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_corpus import CORPUS_DIR, built

ROOT = Path(__file__).resolve().parent.parent
CACHED_CORPUS = ROOT / ".cache" / "shared-corpus" / "objects"


def corpus_objects() -> dict[str, Path]:
    """Object name → file of every corpus program compiled; skip without them."""
    if not CORPUS_DIR.is_dir():
        pytest.skip("../shared/corpus is not present (it is not part of a fresh clone)")
    if not CACHED_CORPUS.is_dir():
        pytest.skip("the shared corpus is not compiled (python bench/object_bench.py builds it "
                    "into .cache/shared-corpus)")
    objects = built(CACHED_CORPUS, {}).objects
    if not objects:
        pytest.skip("no compiled object in .cache/shared-corpus")
    return objects
