"""The source prediction on real programs: the shared corpus's files, analysed with their own
flags (no compiler), against the relocations clang emitted for them (``tests/prediction.py``).

The figures per project are printed (``-s`` or ``-rP``) and recorded as test properties. The
bounds below are what the prediction must reach: at least 99.5% of what clang emits, at most
0.5% more, and no source-level error in a file clang compiles.
"""

from __future__ import annotations

import pytest
from prediction import compare, figures
from shared_corpus import SharedCorpus

pytestmark = [pytest.mark.shared]

#: at least this share of the (kind, spec) pairs clang emits is predicted ...
MIN_FOUND = 0.995
#: ... with at most this many predicted that clang does not emit (share of the emitted)
MAX_EXTRA = 0.005
#: files clang compiles that get a source-level error
MAX_FILES_WITH_ERRORS = 0


def test_the_prediction_matches_clang_on_real_programs(shared_corpus: SharedCorpus,
                                                        record_property) -> None:
    outcomes = compare(shared_corpus.objects, shared_corpus.out / "inc")
    assert len(outcomes) == len(shared_corpus.objects)
    figs = figures(outcomes)
    print()
    for name, fig in figs.items():
        print(fig.line(name))
        record_property(name, f"{fig.found}/{fig.emitted} found, {fig.extra} extra, "
                              f"{fig.files_with_errors} files with errors")
    total = figs["all"]
    worst = sorted(outcomes, key=lambda f: -(len(f.missing) + len(f.extra) + len(f.errors)))
    shown = "\n".join(f"  {f.name}: missing {sorted(f.missing)[:3]} extra {sorted(f.extra)[:3]}"
                      f" errors {[e[:2] for e in f.errors[:2]]}" for f in worst[:8])
    assert total.recall >= MIN_FOUND, shown
    assert total.extra_rate <= MAX_EXTRA, shown
    assert total.files_with_errors <= MAX_FILES_WITH_ERRORS, shown
