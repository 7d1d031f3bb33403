"""Work done progress ($/progress) of one kernel load, as the client takes it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types as lsp

if TYPE_CHECKING:
    from bpfls.lsp.server import BpflsServer

log = logging.getLogger("bpfls.lsp")

#: how long window/workDoneProgress/create may take before the progress is not shown
CREATE_TIMEOUT = 5.0


class Progress:
    """Work done progress for one kernel load. :meth:`begin` (called once the client is
    initialized) creates it if the client supports window/workDoneProgress/create; reports
    and the end that come before the client has accepted it are caught up then."""

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

    def begin(self) -> None:
        if not self.server.session.client.work_done_progress:
            return
        progress = self.server.work_done_progress

        async def start() -> None:
            try:
                await asyncio.wait_for(progress.create_async(self.token), CREATE_TIMEOUT)
            except Exception as e:  # noqa: BLE001
                log.debug("window/workDoneProgress/create failed: %s", e)
                return
            pct = 0
            msg = None
            if self.last is not None:
                msg, n = self.last
                pct = int(100 * n / max(self.total, 1))
            progress.begin(self.token, lsp.WorkDoneProgressBegin(
                title=self.title, message=msg, percentage=pct, cancellable=False))
            self.started = True
            if self.ended:
                progress.end(self.token, lsp.WorkDoneProgressEnd(message=self.end_message))
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
