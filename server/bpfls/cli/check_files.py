"""What ``bpfls check`` does with each file: a BPF object is judged as it is; a source is
predicted, or compiled with clang and judged from the object (``--compile``)."""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

from bpfls.analysis.check import check_model, source_options
from bpfls.analysis.object_check import check_compiled, check_object, compile_failed
from bpfls.analysis.report import FileReport
from bpfls.core.objfile import is_bpf_object
from bpfls.project.compiler import CompileError, compile_bpf
from bpfls.project.config import Config, ConfigError, with_compile_flags
from bpfls.project.kernels import KernelSet
from bpfls.source import analyze
from bpfls.source.cache import SourceCache


class Checker:
    """One file after the other: an object as it is, a source predicted or compiled."""

    def __init__(self, cfg: Config, kernels: KernelSet, compile_sources: bool,
                 compile_commands: str | None = None) -> None:
        self.cfg = cfg
        self.compile_commands = compile_commands  # the database given, instead of searching
        self.kernels = kernels
        # the run's own: nothing is kept in the engine's modules. The trees of every header
        # of a project are kept: the run's files include them again and again
        self.cache = SourceCache(max_trees=1024)
        self.compile_sources = compile_sources
        self.out_dir = ""

    def check(self, path: str) -> tuple[FileReport, str | None]:
        """(report, a problem to report on stderr with exit status 2, or None)."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            return FileReport(path, error=str(e.strerror or e)), f"{path}: {e.strerror or e}"
        if is_bpf_object(data[:64]):
            report = check_object(path, self.kernels, self.cfg.severity, self.cfg.alternatives)
            return report, (f"{path}: {report.error}" if report.error else None)
        return self._source(path, data.decode("utf-8", "replace"))

    def _source(self, path: str, text: str) -> tuple[FileReport, str | None]:
        file_cfg = with_compile_flags(self.cfg, path, self.compile_commands)
        options = source_options(file_cfg, self.kernels)
        model = analyze(os.path.abspath(path), text, options, self.cache)
        trouble = None

        def judge(model):
            return check_model(model, self.kernels, self.cfg.severity, self.cfg.alternatives)

        if any(d.code == "analysis-incomplete" and d.data.get("reason") == "no-kernel-types"
               for d in model.diagnostics):
            trouble = (f"{path}: no primary kernel and no vmlinux.h on the include path: the "
                       "program's kernel types are unknown (give --primary NAME)")
        if not self.compile_sources:
            return judge(model), trouble
        try:
            result = compile_bpf(path, file_cfg, self.out_dir, primary=self.kernels.primary_btf,
                                 arch=options.arch)
        except CompileError as e:
            return judge(model), f"{path}: {e}"
        if result.object_path is None:
            assert result.error is not None
            report = judge(model)
            return compile_failed(report, result.error, self.cfg.severity), trouble
        return check_compiled(model, result.object_path, self.kernels, self.cfg.severity,
                              self.cfg.alternatives), None


#: (report, a problem for stderr, a configuration error that stops the run)
Outcome = tuple["FileReport | None", "str | None", "str | None"]

_CHECKER: Checker | None = None  # the checker of the run, in the worker processes


def check_all(checker: Checker, paths: Sequence[str], jobs: int) -> Iterator[Outcome]:
    """Each file's outcome, in order. With several files and ``jobs`` > 1, the first file is
    checked here, so that what it loads (the kernels' types it decodes, the headers it
    preprocesses: see :class:`~bpfls.source.cache.SourceCache`) is there before the others
    are checked in that many processes forked from this one, which share it. Each process
    takes a run of consecutive files at a time (files side by side tend to include the same
    headers, which its own cache then keeps), shorter runs towards the end so that the
    processes end together; the outcomes are those of checking the files one after the other
    in this process."""
    if jobs <= 1 or len(paths) < 3 or "fork" not in multiprocessing.get_all_start_methods():
        for path in paths:
            yield _outcome(checker, path)
        return
    first = _outcome(checker, paths[0])
    yield first
    if first[2] is not None:
        return  # a configuration error stops the run
    rest = list(paths[1:])
    workers = min(jobs, len(rest))
    global _CHECKER
    _CHECKER = checker
    ctx = multiprocessing.get_context("fork")
    gc.freeze()  # what this process holds stays shared with the workers (no collector writes)
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            futures = []
            start = 0
            for size in runs(len(rest), workers):
                futures.append(pool.submit(_check_run, rest[start:start + size]))
                start += size
            for future in futures:
                yield from future.result()
    finally:
        _CHECKER = None


def runs(files: int, workers: int) -> list[int]:
    """The lengths of the runs of consecutive files the workers take in turn: a third of each
    worker's share of what is left (at most 16, at least 1), so that runs are long while
    there is much to do and short at the end."""
    out = []
    left = files
    while left > 0:
        size = max(1, min(16, left // (workers * 3)))
        out.append(size)
        left -= size
    return out


def _check_run(paths: list[str]) -> list[Outcome]:
    assert _CHECKER is not None
    return [_outcome(_CHECKER, path) for path in paths]


def _outcome(checker: Checker, path: str) -> Outcome:
    try:
        report, trouble = checker.check(path)
    except ConfigError as e:
        return None, None, str(e)
    return report, trouble, None
