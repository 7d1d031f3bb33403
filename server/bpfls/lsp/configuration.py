"""Settings and kernels over a session's life: reading the settings (notifications that come
together are read once), applying them, loading the kernels they name in the background with
progress, and warming the engine up once they are in. Each change of settings or kernels
starts a new generation and new analyses of the open documents.

Functions of the server: they change its :class:`~bpfls.lsp.session.Session` and use the
server to talk to the client.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp

from bpfls.lsp.documents import Document
from bpfls.lsp.kernelload import load_in_background
from bpfls.lsp.settings import SECTION, Settings, merge_settings
from bpfls.lsp.worker import WARM_UP, analyse
from bpfls.project.kernels import Kernel, KernelSet

if TYPE_CHECKING:
    from bpfls.lsp.server import BpflsServer

log = logging.getLogger("bpfls.lsp")

#: how long workspace/configuration may take before the other sources are used alone
CONFIG_TIMEOUT = 5.0
#: didChangeConfiguration notifications within this window are read as one
CONFIG_COALESCE = 0.05


def request_configure(ls: BpflsServer) -> None:
    """Read the settings again, soon (see :func:`configure`)."""
    session = ls.session
    session.config_dirty = True
    if session.config_task is None or session.config_task.done():
        session.config_task = asyncio.get_running_loop().create_task(configure(ls))


async def configure(ls: BpflsServer) -> None:
    """Read the settings again (coalescing notifications that arrive meanwhile)."""
    session = ls.session
    await asyncio.sleep(CONFIG_COALESCE)
    while session.config_dirty:
        session.config_dirty = False
        ws = await fetch_workspace_settings(ls)
        apply_settings(ls, merge_settings(session.client.init_options, ws,
                                          session.client.root))


async def fetch_workspace_settings(ls: BpflsServer) -> Any:
    session = ls.session
    if not session.client.configuration:
        return session.pushed_settings
    try:
        res = await asyncio.wait_for(ls.workspace_configuration_async(
            lsp.ConfigurationParams(items=[lsp.ConfigurationItem(
                scope_uri=session.client.root_uri, section=SECTION)])), CONFIG_TIMEOUT)
    except Exception as e:  # noqa: BLE001 - timeouts, client errors
        log.warning("workspace/configuration failed: %s", e)
        return None
    return res[0] if res else None


def apply_settings(ls: BpflsServer, settings: Settings) -> None:
    for w in settings.warnings:
        log.warning("%s", w)
    for e in settings.errors:
        ls.show_error(e)
    ls.log_handler.set_trace(settings.trace)
    session = ls.session
    old = session.settings
    session.settings = settings
    cfg = settings.config
    spec = (cfg.kernels, cfg.primary)
    if spec != session.kernel_spec:
        session.kernel_spec = spec
        log.info("kernels: %s; primary %s", ", ".join(f"{k.name}={k.path}"
                                                     for k in cfg.kernels),
                 cfg.primary or "none")
        start_kernel_load(ls)
    elif old.config != cfg:
        changed(ls)


def changed(ls: BpflsServer, more_kernels: bool = False) -> None:
    """Settings or kernels changed (``more_kernels``: only kernels of the current set
    finished loading): new results for every open document."""
    ls.session.new_generation(more_kernels)
    ls.diagnostics.reanalyse_all()
    ls.compiles.reconfigured()
    ls.ask_to_pull_again()


def start_kernel_load(ls: BpflsServer) -> None:
    """Load the configured kernels in the background (the primary first), replacing a load
    under way; analysis starts once the primary is in."""
    session = ls.session
    if session.load_task is not None and not session.load_task.done():
        session.load_task.cancel()
    session.new_generation()  # a new kernel set: results of the old one are not shown
    cfg = session.settings.config
    session.primary_done = False
    done = session.load_done = asyncio.Event()
    progress = ls.start_progress("bpfls: loading kernel BTF", len(cfg.kernels))

    async def on_kernel(k: Kernel, ks: KernelSet, n: int, total: int) -> None:
        if k.error:
            ls.show_error(f"kernel {k.name!r}: {k.error}", key=f"kernel:{k.path}:{k.error}")
        else:
            log.info("kernel %s loaded (%d/%d)", k.name, n, total)
        session.kernels = ks
        if k.name == cfg.primary or cfg.primary is None and n == total:
            session.primary_done = True
        progress.report(f"{k.name} ({n}/{total})", n, total)
        if session.ready_for_analysis():
            changed(ls, more_kernels=True)

    async def run() -> None:
        try:
            ks = await load_in_background(cfg, session.kernel_cache, session.kernel_pool,
                                          on_kernel)
            session.kernels = ks
            session.kernel_cache.retain(ks)
            loaded = ", ".join(k.name for k in ks.loaded) or "none"
            await progress.end(f"loaded {loaded}")
            gc.freeze()  # the kernels live as long as the configuration: not for the GC
            await warm_up(ls)
        except asyncio.CancelledError:
            await progress.end("superseded by a new configuration")
            raise
        except Exception:  # noqa: BLE001
            log.exception("loading kernels failed")
            await progress.end("failed")
        finally:
            if session.load_done is done:
                was_ready = session.ready_for_analysis()
                done.set()
                if not was_ready:
                    changed(ls, more_kernels=True)
    session.kernels = KernelSet((), cfg.primary, cfg.primary_default)
    session.load_task = asyncio.get_running_loop().create_task(run())


async def warm_up(ls: BpflsServer) -> None:
    """Analyse a small program once the kernels are in, so the first document opened
    does not pay for the engine's lazily built tables, and build the kernels' lists of
    type names for completion (~17 ms and ~4 MB per kernel). The lists of kernel
    functions (attach targets) are left to their first use: ~45 ms and ~10 MB per kernel
    that most sessions never need."""
    session = ls.session
    path = os.path.join(session.client.root or os.getcwd(), ".bpfls-warm-up.bpf.c")
    loop = asyncio.get_running_loop()
    kernels, cfg = session.kernels, session.settings.config
    encoding = session.client.encoding
    source_cache = session.source_cache
    to_lsp, serialise = session.converter.convert, ls.protocol._converter.unstructure

    def type_names() -> None:
        # imported on first use, not at start-up
        from bpfls.analysis import kernelindex

        kernelindex.prepare(kernels, kernelindex.TYPE_KINDS)

    def analysis() -> None:
        _, report, _ = analyse(path, WARM_UP, kernels, cfg, {}, source_cache)
        # the serialisers of the messages a document brings are generated on first use
        snap = Document("file:///w.c", path, WARM_UP, 1, encoding=encoding).snapshot()
        items = [to_lsp(d, snap, "file:///w.c") for d in report.diagnostics]
        pos = lsp.Position(0, 0)
        for msg in (lsp.PublishDiagnosticsParams("file:///w.c", items, 1),
                    lsp.FullDocumentDiagnosticReport(items, result_id="0"),
                    lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, "x"),
                              lsp.Range(pos, pos)),
                    lsp.CompletionList(False, [lsp.CompletionItem(
                        "x", kind=lsp.CompletionItemKind.Field, detail="int",
                        text_edit=lsp.TextEdit(lsp.Range(pos, pos), "x"), data={})])):
            serialise(msg)
    try:
        await loop.run_in_executor(session.analysis_pool, type_names)
        if not session.docs:  # else the documents' own analyses warm the engine up
            await loop.run_in_executor(session.analysis_pool, analysis)
    except Exception as e:  # noqa: BLE001 - only an optimisation
        log.debug("warm-up failed: %s", e)
    gc.freeze()
