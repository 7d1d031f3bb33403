"""Headers preprocessed and masked once for the translation units that share them
(``source/headercache.py``): every result equals the one of a file analysed alone, without the
cache, whatever state each file includes its headers in."""

from __future__ import annotations

from pathlib import Path

import pytest
from prediction import options_for
from shared_corpus import SharedCorpus, sources

import bpfls.btf
from bpfls.source import SourceOptions, analyze, mask
from bpfls.source.cache import SourceCache
from bpfls.source.headercache import HeaderCache
from bpfls.source.preprocess import Preprocessor

from conftest import SAMPLE_DIR

CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture(scope="module")
def primary():
    return bpfls.btf.load(SAMPLE_DIR / "6.12-amd64.btf.xz")


def summary(model) -> list:
    """Everything a model says, in order."""
    out: list = [model.files, model.vmlinux_h, model.base_preserve_access_index, model.arch,
                 model.first_core_use, sorted(model.inactive.items())]
    out += [(str(a.kind), a.spec, a.access_str, a.path, a.range, a.expr_range, a.function,
             a.macro, a.load, a.store, a.probe_read, a.read_size, a.load_size, str(a.guard),
             a.reachable, a.index, a.guarded, tuple(a.accessors)) for a in model.accesses]
    out += [(d.code, d.path, d.range, d.message, sorted(map(str, d.data.items())))
            for d in model.diagnostics]
    out += [(f.name, f.path, f.range, f.reachable, f.section, f.calls, f.is_static, f.macro)
            for f in model.functions.values()]
    out += [(m.name, m.params, m.variadic, m.text, m.path, m.line, m.column, m.builtin)
            for m in model.macros.values()]
    out += [(i.type_id, i.name, i.kind, i.path, i.range, i.preserve_access_index)
            for i in model.local_types.values()]
    out.append(bytes(model.scope.types.raw) if model.scope.types is not None else b"")
    return out


def with_headers(headers: HeaderCache) -> SourceCache:
    """A cache of its own for one analysis, sharing ``headers`` (what is compared is the
    header cache alone, not the reuse of a file's earlier walk)."""
    cache = SourceCache()
    cache.headers = headers
    return cache


def uncached(path: str, text: str | None, options: SourceOptions,
             monkeypatch: pytest.MonkeyPatch) -> list:
    """The model of ``path`` analysed alone, with the plain preprocessor and masking."""
    with monkeypatch.context() as m:
        m.setattr(HeaderCache, "preprocessor", lambda self, **kw: Preprocessor(**kw))
        m.setattr(HeaderCache, "mask_units", lambda self, units, macros:
                  mask.mask_units(units, macros))
        return summary(analyze(path, text, options, SourceCache()))


def test_corpus_programs_with_a_shared_cache(primary, monkeypatch) -> None:
    options = SourceOptions(primary=primary, arch="x86")
    progs = sorted(CORPUS.glob("*.bpf.c"))
    alone = {p: uncached(str(p), None, options, monkeypatch) for p in progs}
    headers = HeaderCache()
    for p in progs + progs[::-1]:
        assert summary(analyze(str(p), None, options, with_headers(headers))) == alone[p], p
    assert headers.hits > 0 and headers.mask_hits > 0
    # a cache too small for all of them drops the least recently used, and stays right
    small = HeaderCache(max_bytes=40_000)
    for p in progs + progs[::-1]:
        assert summary(analyze(str(p), None, options, with_headers(small))) == alone[p], p
        assert small._bytes <= small.max_bytes
    assert small.hits > 0


@pytest.mark.shared
def test_shared_corpus_with_a_shared_cache(shared_corpus: SharedCorpus, primary,
                                           monkeypatch) -> None:
    """Real projects' files, each with its own flags: one cache for all of them, in two
    orders, gives each file what it gives alone."""
    inc = shared_corpus.out / "inc"
    progs = [(src, options_for(flags, src, inc, primary))
             for src, flags in list(sources().values())[::3]]
    alone = [uncached(str(src), None, opts, monkeypatch) for src, opts in progs]
    headers = HeaderCache()
    for i in [*range(len(progs)), *reversed(range(len(progs)))]:
        src, opts = progs[i]
        assert summary(analyze(str(src), None, opts, with_headers(headers))) == alone[i], src
    assert headers.hits > headers.misses


HEAD = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
"""

CONFIG_H = """\
#ifndef CONFIG_H
#define CONFIG_H
#ifdef WANT_MM
#define FIELD mm
#else
#define FIELD flags
#endif
#if __has_include("extra.h")
#include "extra.h"
#endif
#include "deep.h"
#define __attr_hidden __attribute__((visibility("hidden")))
#define MY_SEC(x) SEC(x)
#endif
"""

DEEP_H = """\
#pragma once
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
struct deep_s { int a; int b; };
#pragma clang attribute pop
static __always_inline int deep_read(struct task_struct *t)
{
    return BPF_CORE_READ(t, pid);
}
"""

PROG = """\
{pre}
#include "config.h"
#include "config.h"
{post}
SEC("tp_btf/sched_switch")
int __attr_hidden prog(void *ctx)
{{
    struct task_struct *t = (void *)bpf_get_current_task();
    struct deep_s *d = (void *)t;
    return BPF_CORE_READ(t, FIELD) != 0 ? deep_read(t) + d->b : SECOND;
}}
char LICENSE[] SEC("license") = "GPL";
"""


def test_each_state_a_header_reads(tmp_path, primary, monkeypatch) -> None:
    """The macros a header tests, include guards and ``#pragma once``, ``__has_include``, a
    header created, changed or found elsewhere between two files: each file gets what it
    would alone."""
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "config.h").write_text(CONFIG_H)
    (inc / "deep.h").write_text(DEEP_H)
    (inc / "progs.h").write_text("SEC(PROG_SEC)\nint hdr_prog(void *ctx) { return 0; }\n")
    options = SourceOptions(primary=primary, arch="x86", include_dirs=(str(inc),))
    files = {
        "a": ("", "#define SECOND 1"),
        "b": ("#define WANT_MM 1", "#define SECOND 2"),
        "c": ("#define WANT_MM 1\n#undef WANT_MM", "#define SECOND 3"),
        "d": ("#define CONFIG_H", "#define SECOND 4\n#define FIELD pid"),
        "e": ('#include "deep.h"', "#define SECOND 5"),
        "f": ("#pragma clang attribute push (__attribute__((preserve_access_index)), "
              "apply_to = record)", "#pragma clang attribute pop\n#define SECOND 6"),
        "g": ('#define PROG_SEC "kprobe/g"\n#include "progs.h"', "#define SECOND 7"),
        "h": ('#define PROG_SEC "kprobe/h"\n#include "progs.h"', "#define SECOND 8"),
    }
    headers = HeaderCache()

    def check_all() -> None:
        for name, (pre, post) in files.items():
            path = tmp_path / f"{name}.bpf.c"
            path.write_text(HEAD + PROG.format(pre=pre, post=post))
            alone = uncached(str(path), None, options, monkeypatch)
            assert summary(analyze(str(path), None, options, with_headers(headers))) == alone, \
                name

    check_all()
    hits = headers.hits
    assert hits > 0
    check_all()
    assert headers.hits > hits
    (inc / "extra.h").write_text("#define SECOND_EXTRA 1\nstruct extra_s { long x; };\n")
    check_all()
    (inc / "deep.h").write_text(DEEP_H.replace("pid", "tgid"))
    check_all()
    other = tmp_path / "other"
    other.mkdir()
    (other / "deep.h").write_text(DEEP_H.replace("pid", "flags"))
    options = SourceOptions(primary=primary, arch="x86", include_dirs=(str(other), str(inc)))
    check_all()
    # unsaved editor text of a header stands in for the file
    options = SourceOptions(primary=primary, arch="x86", include_dirs=(str(inc),),
                            overlays={str(inc / "config.h"): CONFIG_H.replace("flags", "pid")})
    check_all()


def test_the_first_vmlinux_h_wins(tmp_path, primary, monkeypatch) -> None:
    """A header that includes ``vmlinux.h`` reads whether one was included before it."""
    (tmp_path / "kern.h").write_text('#include "vmlinux.h"\n#ifdef __VMLINUX_H__\n'
                                     "#define HAVE_KERNEL 1\n#endif\n")
    (tmp_path / "vmlinux.h").write_text("")
    (tmp_path / "vmlinux-6.h").write_text("")
    options = SourceOptions(primary=primary, arch="x86")
    headers = HeaderCache()
    for pre in ("", '#include "vmlinux-6.h"\n', "#define BPF_NO_PRESERVE_ACCESS_INDEX\n", ""):
        path = tmp_path / "p.bpf.c"
        path.write_text(pre + '#include "kern.h"\nint x = HAVE_KERNEL;\n')
        alone = uncached(str(path), None, options, monkeypatch)
        assert summary(analyze(str(path), None, options, with_headers(headers))) == alone, pre
    assert headers.hits > 0


def test_a_header_that_reads_a_whole_table_is_not_kept(tmp_path) -> None:
    """What a recording cannot tell it read (a table iterated) makes it useless: it is not
    kept, and the header is processed again each time."""
    from bpfls.source.headercache import CachingPreprocessor

    class Counting(CachingPreprocessor):
        def _pragma(self, unit, rest, line):
            if rest and rest[0].text == "count_macros":
                self.counted = len(self.macros)
            super()._pragma(unit, rest, line)

    (tmp_path / "plain.h").write_text("#define PLAIN 1\n")
    (tmp_path / "counts.h").write_text("#pragma count_macros\n#define COUNTED 1\n")
    headers = HeaderCache()
    for _ in range(2):
        for name in ("plain.h", "counts.h"):
            pp = Counting(headers, include_dirs=(str(tmp_path),))
            pp.run(str(tmp_path / "p.c"), f'#include "{name}"\n'.encode())
    assert (headers.hits, headers.misses) == (1, 3)
