"""What runs in the compile thread: the clang command that builds an open document from the
editor's text (:func:`plan`), and the report judged from what clang gave (:func:`judge`).

Like :mod:`.worker`, it reads nothing but its job (an :class:`~.worker.AnalysisJob` captured on
the event loop). clang itself runs in a subprocess the event loop owns (:mod:`.compiles`), so
that it can be killed when the text changes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from bpfls.lsp.worker import Analysis, AnalysisJob, other_snapshots
from bpfls.project.compiler import (
    ClangError,
    CompileError,
    compile_command,
    find_clang,
    first_error,
    vmlinux_dir,
    wants_compile,
)
from bpfls.project.config import ConfigError, with_compile_flags

#: the editor's ``compile`` when the settings leave it unset
DEFAULT_MODE = "auto"


@dataclass(frozen=True)
class Plan:
    """How to build one document: clang's command (the text comes on stdin) and the object
    it writes."""

    command: tuple[str, ...]
    object_path: str


def plan(job: AnalysisJob, out_dir: str) -> Plan | None:
    """The clang command that builds the job's text into ``out_dir``, as ``bpfls check
    --compile`` would build the file; ``None`` when the settings do not ask for a compile
    (``never``, or ``auto`` without clang). Raises :class:`CompileError` when they do and
    there is no clang with the BPF target."""
    # the source options load with the first compile (in this thread), not at start-up
    from bpfls.analysis.check import source_options

    cfg = job.config
    if not wants_compile(cfg.compile, DEFAULT_MODE):
        return None
    try:
        file_cfg = with_compile_flags(cfg, job.path)
    except ConfigError:
        file_cfg = cfg  # said by the analysis of the same text
    clang = find_clang(file_cfg.compiler)
    if clang is None:
        raise CompileError("compile = \"always\" but there is no clang with the BPF target "
                           "on PATH (install clang): the diagnostics are predicted")
    primary = job.kernels.primary_btf
    vmlinux = vmlinux_dir(primary) if primary is not None else None
    output = os.path.join(out_dir, os.path.basename(job.path).removesuffix(".c") + ".o")
    arch = source_options(file_cfg, job.kernels).arch
    cmd = compile_command(clang, job.path, file_cfg, output, arch=arch, vmlinux=vmlinux,
                          from_stdin=True)
    return Plan(tuple(cmd), output)


def clang_error(returncode: int, stderr: str, path: str) -> ClangError:
    """clang's first error, or its last line (or exit status) when it printed none."""
    return first_error(stderr, path) or ClangError(
        os.path.abspath(path), 1, 1,
        (stderr.strip().splitlines() or [f"clang exited with {returncode}"])[-1])


def judge(job: AnalysisJob, model: Any, object_path: str | None,
          error: ClangError | None) -> Analysis:
    """The document's report from clang's object (``object_path``: its exact relocations,
    placed on the tokens of ``model``, the source model of the same text), or, when clang
    rejected the text, the predicted report with clang's first error."""
    # the object check loads with the first compile (in this thread), not at start-up
    from bpfls.analysis.check import check_model
    from bpfls.analysis.object_check import check_compiled, compile_failed

    t0 = time.perf_counter()
    severity = job.config.severity
    if object_path is not None:
        report = check_compiled(model, object_path, job.kernels, severity,
                                job.config.alternatives)
    else:
        assert error is not None
        report = compile_failed(check_model(model, job.kernels, severity,
                                            job.config.alternatives), error, severity)
    return Analysis(model, report, time.perf_counter() - t0, other_snapshots(job, report))
