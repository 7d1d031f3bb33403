"""What runs in the analysis thread: one document's analysis, from an immutable
:class:`AnalysisJob` captured on the event loop to an :class:`Analysis` handed back to it.

The worker reads nothing but its job: not the session, not the server, not the open
documents (their texts come in the job as ``overlays``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bpfls.lsp.documents import Snapshot
from bpfls.lsp.files import FileCache
from bpfls.lsp.paths import same_path
from bpfls.project.config import Config, ConfigError, with_compile_flags
from bpfls.project.kernels import KernelSet
from bpfls.source.cache import SourceCache

log = logging.getLogger("bpfls.lsp")

#: analysed once the kernels are in, to build the engine's lazy tables before a document opens
WARM_UP = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o { volatile long int state; } __attribute__((preserve_access_index));

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    long state = 0;
    if (bpf_core_field_exists(((struct task_struct___o *)prev)->state))
        state = BPF_CORE_READ((struct task_struct___o *)prev, state);
    int ppid = BPF_CORE_READ(next, real_parent, tgid);
    struct mm_struct *mm = next->mm;
    bpf_printk("%ld %d %p", state, ppid, mm);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@dataclass(frozen=True)
class AnalysisJob:
    """Everything one analysis of a document reads, captured on the event loop."""

    uri: str
    #: the file the engine analyses (an untitled document gets one in the workspace root)
    path: str
    #: the document's text and version
    snapshot: Snapshot
    kernels: KernelSet
    config: Config
    #: the other open documents' texts by path (the editor's, not the disk's)
    overlays: Mapping[str, str]
    #: the client's position encoding (for the texts of headers with diagnostics)
    encoding: str
    #: the session's generations when the job was made: its result is kept only if current
    generation: int
    settings_generation: int
    #: files on disk (thread-safe), for headers that get diagnostics
    files: FileCache
    #: what the engine keeps from one analysis of a file for the next (the session's)
    source_cache: SourceCache


@dataclass(frozen=True)
class Analysis:
    """What the worker hands back: the source model, the report, how long it took, and the
    texts of the other files (headers) that have diagnostics, to place them."""

    model: Any
    report: Any
    seconds: float
    others: Mapping[str, Snapshot]


def analyse(path: str, text: str, kernels: KernelSet, cfg: Config,
            overlays: Mapping[str, str], cache: SourceCache) -> tuple[Any, Any, float]:
    """What ``bpfls check`` does for one file (same options, same check_model), on the
    editor's text. Runs in a worker thread. Returns (source model, file report, seconds)."""
    # the source analysis and the checks load with the first analysis (in this thread),
    # not at start-up: `initialize` is answered before they are imported
    from bpfls.analysis.check import check_model, source_options
    from bpfls.source.pipeline import analyze

    t0 = time.perf_counter()
    try:
        file_cfg = with_compile_flags(cfg, path)
    except ConfigError as e:
        log.warning("%s", e)
        file_cfg = cfg
    model = analyze(path, text, source_options(file_cfg, kernels, overlays), cache)
    report = check_model(model, kernels, cfg.severity, cfg.alternatives)
    return model, report, time.perf_counter() - t0


def run(job: AnalysisJob) -> Analysis:
    """:func:`analyse` of the job's document, plus the texts of the other files that have
    diagnostics. Runs in the analysis thread."""
    model, report, seconds = analyse(job.path, job.snapshot.text, job.kernels, job.config,
                                     job.overlays, job.source_cache)
    return Analysis(model, report, seconds, other_snapshots(job, report))


def other_snapshots(job: AnalysisJob, report: Any) -> dict[str, Snapshot]:
    """The texts of the files other than the job's document (headers) that ``report`` has
    diagnostics in: the editor's when they are open, else the disk's."""
    others: dict[str, Snapshot] = {}
    for d in report.diagnostics:
        if d.path in others or same_path(d.path, job.path):
            continue
        snap = (Snapshot(job.overlays[d.path], None, job.encoding) if d.path in job.overlays
                else job.files.snapshot(d.path, job.encoding))
        if snap is not None:
            others[d.path] = snap
    return others
