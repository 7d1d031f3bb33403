"""The pygls server: :class:`BpflsServer` owns the :class:`~bpfls.lsp.session.Session` and
does the talking (messages shown once, progress, the log to the client, stdio with a chunked
reader, TCP); :func:`create_server` registers the handlers of :mod:`bpfls.lsp.handlers`.
The state is the session's; what is done with it is in the handlers, the diagnostics manager
and :mod:`bpfls.lsp.configuration`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any, BinaryIO

from lsprotocol import types as lsp
from pygls.io_ import StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from bpfls import __version__
from bpfls.lsp import handlers
from bpfls.lsp.client import encoding_of
from bpfls.lsp.compiles import CompileManager
from bpfls.lsp.diagnostics import DiagnosticsManager
from bpfls.lsp.documents import UTF16
from bpfls.lsp.lsplog import ClientLogHandler, quiet_protocol_noise
from bpfls.lsp.progress import Progress
from bpfls.lsp.session import Session
from bpfls.lsp.stdio import ChunkReader

log = logging.getLogger("bpfls.lsp")

#: how long a thread keeps the interpreter while another waits for it (Python's default is
#: 5 ms): an analysis or a compile's judging in a worker thread delays a request's few
#: hand-overs between the event loop and the request threads by at most this much each
SWITCH_INTERVAL = 0.0005


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
                                              self.text_document_publish_diagnostics,
                                              self.ask_to_pull_again)
        self.compiles = CompileManager(self.session, self.diagnostics, self.show_error)
        self.log_handler = ClientLogHandler(self)
        quiet_protocol_noise()
        self._pending_messages: list[str] = []
        self._is_initialized = False
        self._progress_waiting: list[Progress] = []

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

    def ask_to_pull_again(self) -> None:
        """workspace/diagnostic/refresh, to a client that pulls and can be asked."""
        client = self.session.client
        if not client.push and self._is_initialized and client.diagnostic_refresh:
            self.workspace_diagnostic_refresh(None)

    def report_server_error(self, error: Exception, source: Any) -> None:
        # to the log, never a popup; a request's own error is already its answer
        what = getattr(source, "__name__", str(source))
        if what == "FeatureRequestError":
            log.info("request failed: %s", error)
        else:
            log.error("internal error (%s): %s", what, error)

    def start_progress(self, title: str, total: int) -> Progress:
        """Work done progress, begun now or once the client is initialized."""
        p = Progress(self, title, total)
        if self.is_initialized:
            p.begin()
        else:
            self._progress_waiting.append(p)
        return p

    @property
    def is_initialized(self) -> bool:
        """The client has sent initialized: messages and progress can be shown."""
        return self._is_initialized

    def on_initialized(self) -> None:
        self._is_initialized = True
        for m in self._pending_messages:
            self.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Error,
                                                           f"bpfls: {m}"))
        self._pending_messages.clear()
        waiting, self._progress_waiting = self._progress_waiting, []
        for p in waiting:
            p.begin()

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """Serve over stdio, reading stdin in large chunks (:mod:`bpfls.lsp.stdio`)."""
        stdin = stdin or sys.stdin.buffer
        self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        reader = ChunkReader(stdin.fileno())
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
        self.compiles.close()
        self.session.close()


def create_server() -> BpflsServer:
    """A server with every handler of :mod:`bpfls.lsp.handlers` registered (and this process's
    threads switching at :data:`SWITCH_INTERVAL`)."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    server = BpflsServer()
    for method, options, handler in handlers.FEATURES:
        server.feature(method, options)(handler)
    for name, handler in handlers.COMMANDS:
        server.command(name)(handler)
    return server
