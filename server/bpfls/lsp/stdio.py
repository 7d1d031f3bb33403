"""stdin for pygls's message loop, read in large chunks (pygls reads each header line and
body in a thread of its own: several thread hops per message)."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor


class ChunkReader:
    """One thread read per chunk of up to 64 KiB; lines and bodies served from the buffer."""

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
