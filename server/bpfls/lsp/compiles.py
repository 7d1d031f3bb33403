"""Compiling the open BPF C documents with clang in the background, so that their diagnostics
become exact: on save, and once a document has been left alone for :data:`IDLE` seconds.

One compile per document at a time, in its own steps, none on the event loop's critical path:

1. On the event loop, the document's text, version and settings are captured as an
   :class:`~.worker.AnalysisJob` (the one the predicted analysis gets).
2. In the compile thread (:mod:`.compile_worker`): is a compile asked for (``compile``:
   ``auto`` by default, ``always``, ``never``), and with which clang and command.
3. clang runs in a subprocess with the editor's text on stdin (unsaved text compiles too; a
   quoted ``#include`` resolves from the file's directory) into a temporary directory, at a
   lower priority than the server. An edit, closing the document or new settings kill it
   (its whole process group).
4. Once the document's source model of the same version is in (the predicted analysis makes
   it), the compile thread judges the object (or, when clang rejected the text, adds clang's
   first error to the predicted report), and the diagnostics manager shows the result if the
   text and the generation are still those compiled (:meth:`.DiagnosticsManager.compiled`).

A clang that is missing (``compile = "always"``) or cannot be run is said once, not per save;
the predicted diagnostics stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bpfls.lsp import compile_worker
from bpfls.lsp.documents import Document
from bpfls.lsp.worker import AnalysisJob
from bpfls.project.compiler import TIMEOUT, CompileError

if TYPE_CHECKING:
    from bpfls.lsp.diagnostics import DiagnosticsManager
    from bpfls.lsp.session import Session

log = logging.getLogger("bpfls.lsp")

#: a document left alone (no edit) this long is compiled
IDLE = 3.0
#: clang runs at this niceness: on a busy machine the server's own threads come first
NICENESS = 10


def is_program(doc: Document) -> bool:
    """Whether the document is BPF C that clang can build into an object: a C file (not a
    header) with at least one ``SEC(...)``."""
    name = doc.path or doc.uri
    return not name.endswith((".h", ".hh", ".hpp")) and "SEC(" in doc.text


@dataclass
class _Compile:
    """One document's compiles: the idle timer, the compile under way and its version, and
    what was last compiled to the end (version, generation)."""

    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task | None = None
    version: int | None = None
    done: tuple[int | None, int] | None = None


class CompileManager:
    """The compiles of the open documents (see the module doc). ``say(message, key)`` tells
    the user of a problem once per key."""

    def __init__(self, session: Session, diagnostics: DiagnosticsManager,
                 say: Callable[[str, str], None]) -> None:
        self.session = session
        self.diagnostics = diagnostics
        self.say = say
        self.docs: dict[str, _Compile] = {}
        #: the clang processes running (killed when the server stops)
        self.processes: set[asyncio.subprocess.Process] = set()

    # -- documents ------------------------------------------------------------------------

    def opened(self, uri: str) -> None:
        self._cancel(uri)
        self.docs[uri] = _Compile()
        self._later(uri, IDLE)

    def changed(self, uri: str) -> None:
        """The text changed: the compile under way is of an old text (killed), the next
        comes once the document is left alone. Documents that include it are compiled
        from the disk: theirs waits for a save."""
        self._cancel(uri)
        self._later(uri, IDLE)
        for other in self._dependents(uri):
            self._cancel(other)

    def saved(self, uri: str) -> None:
        """Compile now (and the open documents that include it: what they read changed)."""
        self._later(uri, 0)
        for other in self._dependents(uri):
            c = self.docs.get(other)
            if c is not None:
                c.done = None
            self._later(other, 0)

    def closed(self, uri: str) -> None:
        self._cancel(uri)
        c = self.docs.pop(uri, None)
        if c is not None and c.timer is not None:
            c.timer.cancel()

    def reconfigured(self) -> None:
        """Settings or kernels changed: every document again, once left alone."""
        for uri in list(self.docs):
            self._cancel(uri)
            self._later(uri, IDLE)

    def close(self) -> None:
        """The server stops: kill the clang processes still running."""
        for proc in list(self.processes):
            _kill(proc)

    def _dependents(self, uri: str) -> list[str]:
        doc = self.session.docs.get(uri)
        return self.diagnostics.dependents(doc.path) if doc is not None else []

    # -- scheduling -----------------------------------------------------------------------

    def _later(self, uri: str, delay: float) -> None:
        c = self.docs.get(uri)
        if c is None:
            return
        if c.timer is not None:
            c.timer.cancel()
        c.timer = asyncio.get_running_loop().call_later(delay, self._start, uri)

    def _cancel(self, uri: str) -> None:
        c = self.docs.get(uri)
        if c is not None and c.task is not None and not c.task.done():
            c.task.cancel()

    def _start(self, uri: str) -> None:
        c = self.docs.get(uri)
        doc = self.session.docs.get(uri)
        if c is None or doc is None:
            return
        c.timer = None
        session = self.session
        if not session.ready_for_analysis():
            return  # compiled once the kernels are in (reconfigured)
        if c.task is not None and not c.task.done():
            if c.version == doc.version:
                return  # this text is being compiled
            c.task.cancel()
        if c.done == (doc.version, session.generation) or not is_program(doc):
            return
        c.version = doc.version
        job = session.analysis_job(doc)
        c.task = asyncio.get_running_loop().create_task(
            self._compile(uri, c, job, self.diagnostics.ticket()))

    # -- one compile ----------------------------------------------------------------------

    async def _compile(self, uri: str, c: _Compile, job: AnalysisJob, ticket: int) -> None:
        session = self.session
        loop = asyncio.get_running_loop()
        out_dir = tempfile.mkdtemp(prefix="bpfls-compile-")
        try:
            try:
                plan = await loop.run_in_executor(session.compile_pool, compile_worker.plan,
                                                  job, out_dir)
            except (CompileError, OSError) as e:
                self.say(str(e), f"compile:{e}")
                plan = None
            t0 = time.perf_counter()
            ran = await self._run_clang(plan, job) if plan is not None else None
            if plan is None or ran is None:
                c.done = (job.snapshot.version, job.generation)
                log.debug("%s (version %s) is not compiled", uri, job.snapshot.version)
                return
            clang_seconds = time.perf_counter() - t0
            returncode, stderr = ran
            ok = returncode == 0 and os.path.isfile(plan.object_path)
            error = None if ok else compile_worker.clang_error(returncode, stderr, job.path)
            model = await self.diagnostics.model_of(uri, job.snapshot.version)
            if model is None:
                return  # the text changed (this task is being cancelled) or it closed
            res = await loop.run_in_executor(
                session.compile_pool, compile_worker.judge, job,
                model, plan.object_path if ok else None, error)
            c.done = (job.snapshot.version, job.generation)
            if res.report.error:
                self.say(f"cannot read the object clang built of {job.path}: "
                         f"{res.report.error}", f"compile-object:{res.report.error}")
                return
            log.debug("compiled %s (version %s): clang %.1f ms, judged in %.1f ms", uri,
                      job.snapshot.version, clang_seconds * 1e3, res.seconds * 1e3)
            self.diagnostics.compiled(uri, job, res, ticket, time.time())
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the compile is an extra: never take the server down
            log.exception("compiling %s failed", uri)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)

    async def _run_clang(self, plan: compile_worker.Plan, job: AnalysisJob
                         ) -> tuple[int, str] | None:
        """clang's exit status and standard error, or None when it could not be run or took
        too long (said once). Cancelling kills it."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *plan.command, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                start_new_session=True)
        except OSError as e:
            clang = plan.command[0]
            self.say(f"cannot run {clang}: {e.strerror or e}: the diagnostics are predicted",
                     f"compile-run:{clang}")
            return None
        self.processes.add(proc)
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PGRP, proc.pid, NICENESS)
        text = job.snapshot.text.encode("utf-8", "replace")
        try:
            _, err = await asyncio.wait_for(proc.communicate(text), TIMEOUT)
        except TimeoutError:
            await _killed(proc)
            self.say(f"clang took longer than {TIMEOUT:.0f} s on {job.path}: the diagnostics "
                     "are predicted", f"compile-timeout:{job.path}")
            return None
        except BaseException:  # cancelled: the text changed, the document closed
            await _killed(proc)
            raise
        finally:
            self.processes.discard(proc)
        code = proc.returncode
        return (code if code is not None else -1), err.decode("utf-8", "replace")


def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill clang and whatever it started (its process group)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


async def _killed(proc: asyncio.subprocess.Process) -> None:
    _kill(proc)
    with contextlib.suppress(ProcessLookupError):
        await proc.wait()
