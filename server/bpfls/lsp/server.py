"""The bpfls language server: pygls wiring over the engine.

State lives in the server's :class:`~bpfls.lsp.session.Session`: open documents, the merged
settings, the current :class:`KernelSet` (swapped whole when kernels load or the configuration
changes) and the *generations* that change with them. Handlers are registered by
:func:`create_server` and stay thin: convert positions, call the engine (off the event loop),
convert back.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from bpfls import __version__
from bpfls.lsp import handlers
from bpfls.lsp.client import encoding_of
from bpfls.lsp.diagnostics import DiagnosticsManager
from bpfls.lsp.documents import UTF16, Document
from bpfls.lsp.kernelload import load_in_background
from bpfls.lsp.lsplog import ClientLogHandler
from bpfls.lsp.session import Session
from bpfls.lsp.settings import SECTION, Settings, merge_settings
from bpfls.lsp.worker import WARM_UP, analyse
from bpfls.project.kernels import Kernel, KernelSet

log = logging.getLogger("bpfls.lsp")

#: how long workspace/configuration may take before the other sources are used alone
CONFIG_TIMEOUT = 5.0
#: didChangeConfiguration notifications within this window are read as one
CONFIG_COALESCE = 0.05


class BpflsProtocol(LanguageServerProtocol):
    """Open documents are kept by the server (documents.Document, with the protocol's own
    line endings), not in pygls's workspace: these replace the built-in sync handlers."""

    @lsp_method(lsp.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: lsp.DidOpenTextDocumentParams):
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: lsp.DidChangeTextDocumentParams):
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: lsp.DidCloseTextDocumentParams):
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None


class BpflsServer(LanguageServer):
    """The pygls server: owns the :class:`Session` and does the talking (messages, progress,
    logging, requests to the client)."""

    def __init__(self) -> None:
        super().__init__("bpfls", __version__, protocol_cls=BpflsProtocol,
                         text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.session = Session()
        self.diagnostics = DiagnosticsManager(self.session,
                                              self.text_document_publish_diagnostics)
        self.log_handler = ClientLogHandler(self)
        self._pending_messages: list[str] = []
        self._is_initialized = False
        self._progress_waiting: list[_Progress] = []

    def position_encoding(self) -> str:
        """The position encoding negotiated at initialize (UTF-16 when none was)."""
        try:
            return encoding_of(self.workspace.position_encoding)
        except RuntimeError:
            return UTF16

    # -- messages -------------------------------------------------------------------------

    def show_error(self, message: str, key: str | None = None) -> None:
        """One window/showMessage error per distinct problem (``key``, default the text)."""
        key = key or message
        if key in self.session.shown:
            return
        self.session.shown.add(key)
        log.error("%s", message)
        if not self._is_initialized:
            self._pending_messages.append(message)
            return
        self.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Error,
                                                       f"bpfls: {message}"))

    def report_server_error(self, error: Exception, source: Any) -> None:
        # to the log, never a popup; a request's own error is already its answer
        what = getattr(source, "__name__", str(source))
        if what == "FeatureRequestError":
            log.info("request failed: %s", error)
        else:
            log.error("internal error (%s): %s", what, error)

    # -- configuration and kernels ----------------------------------------------------------

    def changed(self, more_kernels: bool = False) -> None:
        """Settings or kernels changed (``more_kernels``: only kernels of the current set
        finished loading): new results for every open document."""
        self.session.new_generation(more_kernels)
        self.diagnostics.reanalyse_all()
        client = self.session.client
        if not client.push and self._is_initialized and client.diagnostic_refresh:
            self.workspace_diagnostic_refresh(None)

    async def fetch_workspace_settings(self) -> Any:
        session = self.session
        if not session.client.configuration:
            return session.pushed_settings
        try:
            res = await asyncio.wait_for(self.workspace_configuration_async(
                lsp.ConfigurationParams(items=[lsp.ConfigurationItem(
                    scope_uri=session.client.root_uri, section=SECTION)])), CONFIG_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - timeouts, client errors
            log.warning("workspace/configuration failed: %s", e)
            return None
        return res[0] if res else None

    def apply_settings(self, settings: Settings) -> None:
        for w in settings.warnings:
            log.warning("%s", w)
        for e in settings.errors:
            self.show_error(e)
        self.log_handler.set_trace(settings.trace)
        session = self.session
        old = session.settings
        session.settings = settings
        cfg = settings.config
        spec = (cfg.kernels, cfg.primary)
        if spec != session.kernel_spec:
            session.kernel_spec = spec
            log.info("kernels: %s; primary %s", ", ".join(f"{k.name}={k.path}"
                                                         for k in cfg.kernels),
                     cfg.primary or "none")
            self.start_kernel_load()
        elif old.config != cfg:
            self.changed()

    def start_kernel_load(self) -> None:
        session = self.session
        if session.load_task is not None and not session.load_task.done():
            session.load_task.cancel()
        session.new_generation()  # a new kernel set: results of the old one are not shown
        cfg = session.settings.config
        session.primary_done = False
        done = session.load_done = asyncio.Event()
        progress = _Progress(self, "bpfls: loading kernel BTF", len(cfg.kernels))

        async def on_kernel(k: Kernel, ks: KernelSet, n: int, total: int) -> None:
            if k.error:
                self.show_error(f"kernel {k.name!r}: {k.error}", key=f"kernel:{k.path}:{k.error}")
            else:
                log.info("kernel %s loaded (%d/%d)", k.name, n, total)
            session.kernels = ks
            if k.name == cfg.primary or cfg.primary is None and n == total:
                session.primary_done = True
            progress.report(f"{k.name} ({n}/{total})", n, total)
            if session.ready_for_analysis():
                self.changed(more_kernels=True)

        async def run() -> None:
            try:
                ks = await load_in_background(cfg, session.kernel_cache, session.kernel_pool,
                                              on_kernel)
                session.kernels = ks
                session.kernel_cache.retain(ks)
                loaded = ", ".join(k.name for k in ks.loaded) or "none"
                await progress.end(f"loaded {loaded}")
                gc.freeze()  # the kernels live as long as the configuration: not for the GC
                await self.warm_up()
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
                        self.changed(more_kernels=True)
        session.kernels = KernelSet((), cfg.primary)
        session.load_task = asyncio.get_running_loop().create_task(run())

    async def warm_up(self) -> None:
        """Analyse a small program once the kernels are in, so the first document opened
        does not pay for the engine's lazily built tables, and build the kernels' lists of
        type names for completion (~17 ms and ~4 MB per kernel). The lists of kernel
        functions (attach targets) are left to their first use: ~45 ms and ~10 MB per kernel
        that most sessions never need."""
        session = self.session
        path = os.path.join(session.client.root or os.getcwd(), ".bpfls-warm-up.bpf.c")
        loop = asyncio.get_running_loop()
        kernels, cfg = session.kernels, session.settings.config
        encoding = session.client.encoding
        to_lsp, serialise = session.converter.convert, self.protocol._converter.unstructure

        def type_names() -> None:
            # imported on first use, not at start-up
            from bpfls.analysis import kernelindex

            kernelindex.prepare(kernels, kernelindex.TYPE_KINDS)

        def analysis() -> None:
            _, report, _ = analyse(path, WARM_UP, kernels, cfg, {})
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

    async def configure(self) -> None:
        """Read the settings again (coalescing notifications that arrive meanwhile)."""
        session = self.session
        await asyncio.sleep(CONFIG_COALESCE)
        while session.config_dirty:
            session.config_dirty = False
            ws = await self.fetch_workspace_settings()
            self.apply_settings(merge_settings(session.client.init_options, ws,
                                               session.client.root))

    def request_configure(self) -> None:
        session = self.session
        session.config_dirty = True
        if session.config_task is None or session.config_task.done():
            session.config_task = asyncio.get_running_loop().create_task(self.configure())

    def on_initialized(self) -> None:
        self._is_initialized = True
        for m in self._pending_messages:
            self.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Error,
                                                           f"bpfls: {m}"))
        self._pending_messages.clear()
        _Progress.client_ready(self)

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """Serve over stdio, reading stdin in large chunks (pygls reads each header line and
        body in a thread of its own: several thread hops per message)."""
        from pygls.io_ import StdoutWriter, run_async

        stdin = stdin or sys.stdin.buffer
        self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        reader = _ChunkReader(stdin.fileno())
        try:
            asyncio.run(run_async(stop_event=self._stop_event, reader=reader,
                                  protocol=self.protocol, logger=log,
                                  error_handler=self.report_server_error))
        except BrokenPipeError:
            log.error("the connection to the client is lost")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    def stop(self) -> None:
        self.session.close()


class _ChunkReader:
    """stdin for pygls's message loop: one thread read per chunk, lines and bodies served
    from the buffer."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray()
        self.eof = False
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="bpfls-stdin")

    async def _fill(self) -> None:
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(self.pool, os.read, self.fd, 1 << 16)
        if data:
            self.buf += data
        else:
            self.eof = True

    async def readline(self) -> bytes:
        while True:
            i = self.buf.find(b"\n")
            if i >= 0 or self.eof:
                end = i + 1 if i >= 0 else len(self.buf)
                line = bytes(self.buf[:end])
                del self.buf[:end]
                return line
            await self._fill()

    async def readexactly(self, n: int) -> bytes:
        while len(self.buf) < n and not self.eof:
            await self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data


class _Progress:
    """Work done progress for one kernel load (created once the client is initialized and
    only if it supports window/workDoneProgress/create)."""

    def __init__(self, server: BpflsServer, title: str, total: int) -> None:
        self.server = server
        self.title = title
        self.total = total
        self.token = f"bpfls/kernels/{uuid.uuid4().hex[:12]}"
        self.started = False
        self.ended = False
        self.last: tuple[str, int] | None = None
        self._start: asyncio.Task | None = None
        self.end_message = ""
        if server._is_initialized:
            self._begin()
        else:
            server._progress_waiting.append(self)

    @staticmethod
    def client_ready(server: BpflsServer) -> None:
        waiting, server._progress_waiting = server._progress_waiting, []
        for p in waiting:
            p._begin()

    def _begin(self) -> None:
        if not self.server.session.client.work_done_progress:
            return

        async def start() -> None:
            try:
                await asyncio.wait_for(
                    self.server.work_done_progress.create_async(self.token), CONFIG_TIMEOUT)
            except Exception as e:  # noqa: BLE001
                log.debug("window/workDoneProgress/create failed: %s", e)
                return
            pct = 0
            msg = None
            if self.last is not None:
                msg, n = self.last
                pct = int(100 * n / max(self.total, 1))
            self.server.work_done_progress.begin(self.token, lsp.WorkDoneProgressBegin(
                title=self.title, message=msg, percentage=pct, cancellable=False))
            self.started = True
            if self.ended:
                self.server.work_done_progress.end(self.token, lsp.WorkDoneProgressEnd(
                    message=self.end_message))
        self._start = asyncio.get_running_loop().create_task(start())

    def report(self, message: str, n: int, total: int) -> None:
        self.last = (message, n)
        if self.started and not self.ended:
            self.server.work_done_progress.report(self.token, lsp.WorkDoneProgressReport(
                message=message, percentage=int(100 * n / max(total, 1))))

    async def end(self, message: str) -> None:
        self.end_message = message
        if self.ended:
            return
        self.ended = True
        if self.started:
            self.server.work_done_progress.end(self.token, lsp.WorkDoneProgressEnd(
                message=message))
        # not started yet (the client is not initialized, or has not answered the create
        # request): start() begins and ends it then


def create_server() -> BpflsServer:
    """A server with every handler of :mod:`bpfls.lsp.handlers` registered."""
    server = BpflsServer()
    for method, options, handler in handlers.FEATURES:
        server.feature(method, options)(handler)
    for name, handler in handlers.COMMANDS:
        server.command(name)(handler)
    return server

