"""The server's log goes to the client (window/logMessage), never to stdout."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from lsprotocol import types as lsp

if TYPE_CHECKING:
    from bpfls.lsp.server import BpflsServer

#: ``trace`` setting → the lowest level sent to the client
TRACE_LEVELS = {"off": logging.WARNING, "messages": logging.INFO, "verbose": logging.DEBUG}


def _message_type(level: int) -> lsp.MessageType:
    if level >= logging.ERROR:
        return lsp.MessageType.Error
    if level >= logging.WARNING:
        return lsp.MessageType.Warning
    if level >= logging.INFO:
        return lsp.MessageType.Info
    return lsp.MessageType.Log


class ProtocolNoise(logging.Filter):
    """Drops what pygls logs about normal protocol traffic as if it were a problem: a
    ``$/cancelRequest`` for a request already answered (clients send them routinely, and
    VS Code shows every stderr line of a server in its log as an error)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and
                    record.msg.startswith("Cancel notification for unknown message id"))


def quiet_protocol_noise() -> None:
    """Install :class:`ProtocolNoise` on pygls's JSON-RPC logger (once)."""
    logger = logging.getLogger("pygls.protocol.json_rpc")
    if not any(isinstance(f, ProtocolNoise) for f in logger.filters):
        logger.addFilter(ProtocolNoise())


class ClientLogHandler(logging.Handler):
    """Sends records as window/logMessage from whatever thread logs them."""

    def __init__(self, server: BpflsServer) -> None:
        super().__init__(logging.WARNING)
        self.server = server
        self.loop: asyncio.AbstractEventLoop | None = None
        self.setFormatter(logging.Formatter("%(message)s"))

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        logger = logging.getLogger("bpfls")
        if self not in logger.handlers:
            logger.addHandler(self)
        self._level_logger()

    def set_trace(self, trace: str) -> None:
        self.setLevel(TRACE_LEVELS.get(trace, logging.WARNING))
        self._level_logger()

    def _level_logger(self) -> None:
        # what the client asked for, or what stderr takes (bpfls serve --log-level)
        root = logging.getLogger().getEffectiveLevel()
        logging.getLogger("bpfls").setLevel(min(self.level, root))

    def emit(self, record: logging.LogRecord) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            params = lsp.LogMessageParams(_message_type(record.levelno), self.format(record))
            loop.call_soon_threadsafe(self._send, params)
        except Exception:  # noqa: BLE001 - logging must never fail the caller
            pass

    def _send(self, params: lsp.LogMessageParams) -> None:
        try:
            self.server.window_log_message(params)
        except Exception:  # noqa: BLE001 - e.g. the connection is gone
            pass
