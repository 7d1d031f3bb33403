#!/usr/bin/env python3
"""How well the source prediction matches clang on the shared corpus, per project.

    python bench/prediction_bench.py [--details] [NAME-SUBSTRING...]

The shared corpus (``../shared/corpus``) is built once into ``.cache/shared-corpus/`` (as
``bench/object_bench.py`` does); each program's predicted relocations (kind, spec) are compared
with its object's (see ``tests/prediction.py``). Prints, per project: relocations clang emits,
the share predicted, the predicted ones clang does not emit, and source-level errors (every
one false: clang compiled these files). ``--details``: each file's differences and errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from object_bench import CACHE, corpus_objects, tool  # noqa: E402
from prediction import compare, figures  # noqa: E402
from shared_corpus import CLANG  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--details", action="store_true")
    ap.add_argument("only", nargs="*")
    args = ap.parse_args()
    objs = corpus_objects(tool(CLANG), tool("bpftool"))
    t0 = time.perf_counter()
    outcomes = compare({o.name.removesuffix(".o"): o for o in objs}, CACHE / "objects" / "inc",
                       only=args.only)
    dt = time.perf_counter() - t0
    if args.details:
        for f in outcomes:
            if f.missing or f.extra or f.errors:
                print(f"{f.name}:")
                for r in sorted(f.missing):
                    print(f"  missing {r[0]} {r[1]}")
                for r in sorted(f.extra):
                    print(f"  extra   {r[0]} {r[1]}")
                for code, msg, path, line in f.errors:
                    print(f"  error   {Path(path).name}:{line}: {code}: {msg}")
    for name, fig in figures(outcomes).items():
        print(fig.line(name))
    print(f"{len(outcomes)} programs analysed in {dt:.1f} s (one process, caches warm after "
          "the first)")


if __name__ == "__main__":
    main()
