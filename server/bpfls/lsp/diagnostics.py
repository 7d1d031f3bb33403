"""Diagnostics of open documents: debounced analysis off the event loop, one result per
(document version, configuration generation), pushed or pulled.

Each document is analysed by one worker thread at a time, from an immutable job the session
captures when the analysis starts (:meth:`bpfls.lsp.session.Session.analysis_job`). A result
is *current* when it was computed from the document's current version with the current
configuration and kernels. Only current results are returned to a pull; a result for an older
text or older settings is dropped (its source model is still kept for hover and completion,
which cope with a model that lags the text). A result that only lacks kernels loaded
meanwhile is pushed while the next one is computed.

What analysing a program finds in a header it includes (*foreign* diagnostics) goes to the
header: pushed under its URI, or as a related document of the program's pulled report.

A compile of the document (:mod:`.compiles`) brings an *exact* result for the text it compiled:
the report judged from clang's object, or the predicted one with clang's first error. It
replaces the predicted result of the same version and generation (and is not replaced by one
computed from an older job); the next edit brings the predicted ones back until the next
compile. Each protocol diagnostic says which it is in ``data.source``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp

from bpfls.analysis.diagnostics import Diagnostic
from bpfls.analysis.report import COMPILED, PREDICTED, FileReport, RelocationReport
from bpfls.lsp import worker
from bpfls.lsp.documents import Document, Snapshot
from bpfls.lsp.paths import path_to_uri, same_path

if TYPE_CHECKING:
    from bpfls.lsp.session import Session

log = logging.getLogger("bpfls.lsp")

#: quiet time after a keystroke before a document is analysed again, while an analysis is
#: already running or waiting (a burst of typing is analysed once at its end)
DEBOUNCE = 0.12
#: the delay for an edit to an idle document (the first keystroke after a pause): enough to
#: take the rest of the same batch of notifications along
FIRST_EDIT_DELAY = 0.01
#: the longest a pull request waits for a current result before answering with what it has
PULL_TIMEOUT = 30.0


def _key(d: lsp.Diagnostic) -> tuple:
    r = d.range
    return (r.start.line, r.start.character, r.end.line, r.end.character, d.code, d.message)


def source_of(report: FileReport, d: Diagnostic) -> str:
    """How ``d`` of ``report`` was found: ``"compiled"`` (judged from clang's object, or
    clang's own error) or ``"predicted"``."""
    return COMPILED if report.mode == COMPILED or d.code == "compile-error" else PREDICTED


@dataclass
class Result:
    version: int | None
    generation: int
    snapshot: Snapshot
    diagnostics: list[Diagnostic]  # the engine's, for this document
    items: list[lsp.Diagnostic]
    result_id: str
    #: from a compile (clang's object, or the prediction with clang's error), and the
    #: ticket of its job (a result from an older job does not replace it)
    compiled: bool = False
    ticket: int = 0


@dataclass(frozen=True)
class Emitted:
    """The relocations of clang's object for one version of a document (as the compiled
    report places them on its tokens), and when it was compiled (``time.time()``)."""

    version: int | None
    settings_generation: int
    relocations: list[RelocationReport]
    when: float


@dataclass
class DocState:
    doc: Document
    timer: asyncio.TimerHandle | None = None
    running: bool = False
    rerun: bool = False
    result: Result | None = None
    model: Any = None  # the latest source model, possibly of an older version
    model_version: int | None = None
    files: frozenset[str] = frozenset()  # what the model read (headers included)
    waiters: list[asyncio.Future] = field(default_factory=list)
    emitted: Emitted | None = None  # what the last compile to the end emitted


class DiagnosticsManager:
    """The open documents' analyses and their diagnostics. ``publish`` sends
    textDocument/publishDiagnostics (to a client that does not pull)."""

    def __init__(self, session: Session,
                 publish: Callable[[lsp.PublishDiagnosticsParams], None],
                 refresh: Callable[[], None] | None = None) -> None:
        self.session = session
        self.publish = publish
        #: asks a client that pulls to pull again (when it can be asked)
        self.refresh = refresh
        self.states: dict[str, DocState] = {}
        self._ids = 0
        self._tickets = 0
        #: diagnostics in other files (headers) found analysing a document:
        #: file URI → document URI → diagnostics
        self.foreign: dict[str, dict[str, list[lsp.Diagnostic]]] = {}
        self._foreign_changes = 0
        #: called with (uri, seconds) after each analysis (benchmarks, logs)
        self.on_analysed: Callable[[str, float], None] | None = None

    # -- documents ------------------------------------------------------------------------

    def opened(self, doc: Document) -> None:
        old = self.states.pop(doc.uri, None)
        if old is not None:
            self._drop(old)
        self.states[doc.uri] = DocState(doc)
        self.schedule(doc.uri, 0)

    def changed(self, uri: str) -> None:
        st = self.states.get(uri)
        if st is None:
            return
        idle = st.timer is None and not st.running
        self.schedule(uri, FIRST_EDIT_DELAY if idle else DEBOUNCE)
        self._dependents_changed(st.doc.path, DEBOUNCE)

    def saved(self, uri: str) -> None:
        st = self.states.get(uri)
        if st is not None:
            self._dependents_changed(st.doc.path, 0)

    def closed(self, uri: str) -> None:
        st = self.states.pop(uri, None)
        if st is None:
            return
        self._drop(st)
        self._set_foreign(uri, {})
        self._foreign_changes += 1
        if self.session.client.push:
            self._publish(uri)  # what the documents including it found there, if any
            for u, o in self.states.items():  # open headers it included: on their own again
                if o.doc.path in st.files:
                    self._publish(u)
        self._dependents_changed(st.doc.path, 0)

    def _drop(self, st: DocState) -> None:
        if st.timer is not None:
            st.timer.cancel()
        for w in st.waiters:
            if not w.done():
                w.set_result(None)
        st.waiters.clear()

    def dependents(self, path: str | None) -> list[str]:
        """The open documents whose analysis read the file ``path`` (which they include)."""
        if path is None:
            return []
        return [uri for uri, other in self.states.items()
                if other.doc.path != path and path in other.files]

    def _dependents_changed(self, path: str | None, delay: float) -> None:
        for uri in self.dependents(path):
            self.schedule(uri, delay)

    def reanalyse_all(self) -> None:
        """The configuration or the kernels changed: every open document again."""
        for uri in list(self.states):
            self.schedule(uri, 0)

    # -- scheduling -----------------------------------------------------------------------

    def schedule(self, uri: str, delay: float) -> None:
        st = self.states.get(uri)
        if st is None:
            return
        if st.timer is not None:
            st.timer.cancel()
        loop = asyncio.get_running_loop()
        st.timer = loop.call_later(delay, self._start, uri)

    def _start(self, uri: str) -> None:
        st = self.states.get(uri)
        if st is None:
            return
        st.timer = None
        if not self.session.ready_for_analysis():
            return  # analysed when the primary kernel is in (reanalyse_all)
        if st.running:
            st.rerun = True
            return
        st.running = True
        asyncio.get_running_loop().create_task(self._run(uri, st))

    def ticket(self) -> int:
        """A number for a job about to be captured: later jobs get larger ones."""
        self._tickets += 1
        return self._tickets

    async def _run(self, uri: str, st: DocState) -> None:
        session = self.session
        doc = st.doc
        job = session.analysis_job(doc)
        ticket = self.ticket()
        loop = asyncio.get_running_loop()
        try:
            res: worker.Analysis | None = await loop.run_in_executor(
                session.analysis_pool, worker.run, job)
        except Exception:  # noqa: BLE001 - the engine promises not to raise; be sure
            log.exception("analysis of %s failed", uri)
            res = None
        finally:
            st.running = False
        if self.states.get(uri) is not st:
            return  # closed (or reopened) meanwhile
        snap = job.snapshot
        affected: list[str] = []
        if res is not None:
            model = res.model
            st.model, st.model_version = model, snap.version
            old_files, st.files = st.files, frozenset(getattr(model, "files", ()) or ())
            if st.files != old_files:  # open headers it includes (or no longer) change view
                self._foreign_changes += 1
                moved = st.files ^ old_files
                affected = [u for u, o in self.states.items()
                            if o is not st and o.doc.path in moved]
            self._wake(st)
            log.debug("analysed %s (version %s) in %.1f ms", uri, snap.version,
                      res.seconds * 1e3)
            if self.on_analysed is not None:
                self.on_analysed(uri, res.seconds)
        current = snap.version == doc.version and job.generation == session.generation
        # computed before more kernels came in (same text, same settings): shown meanwhile
        partial = (not current and snap.version == doc.version
                   and job.settings_generation == session.settings_generation)
        if (current or partial) and res is not None:
            old = st.result
            exact = (old is not None and old.compiled and old.version == snap.version
                     and old.generation == job.generation and old.ticket > ticket)
            if not exact:  # else the compile of this text came after: it stays
                self._keep(uri, st, job, res, ticket, compiled=False)
            if current:
                self._wake(st)
        if session.client.push:
            for u in affected:
                self._publish(u)
        if st.rerun or (not current and st.timer is None):
            st.rerun = False
            self.schedule(uri, 0)

    def _keep(self, uri: str, st: DocState, job: worker.AnalysisJob, res: worker.Analysis,
              ticket: int, compiled: bool) -> None:
        """Keep ``res`` as the document's result (and what it found in other files), and
        push it to a client that does not pull."""
        session = self.session
        snap = job.snapshot
        report = res.report
        diags = [d for d in report.diagnostics if same_path(d.path, job.path)]
        items = [session.converter.convert(d, snap, uri, source_of(report, d)) for d in diags]
        old = st.result
        if old is not None and old.items == items:
            rid = old.result_id  # the same report: a pull may answer "unchanged"
        else:
            self._ids += 1
            rid = f"{self._ids}"
        st.result = Result(snap.version, job.generation, snap, diags, items, rid, compiled,
                           ticket)
        foreign: dict[str, list[lsp.Diagnostic]] = {}
        for d in report.diagnostics:
            other = res.others.get(d.path)
            if other is not None:
                u = path_to_uri(d.path)
                foreign.setdefault(u, []).append(
                    session.converter.convert(d, other, u, source_of(report, d)))
        self._set_foreign(uri, foreign)
        if session.client.push:
            self._publish(uri)

    # -- compiles -------------------------------------------------------------------------

    def compiled(self, uri: str, job: worker.AnalysisJob, res: worker.Analysis, ticket: int,
                 when: float) -> bool:
        """A compile of the document ended (``res``: the report judged from clang's object,
        or the predicted one with clang's error): shown in place of the predicted result if
        it is of the current text and generation. Returns whether it is."""
        st = self.states.get(uri)
        session = self.session
        if st is None or st.doc.version != job.snapshot.version \
                or job.generation != session.generation:
            return False
        report = res.report
        st.emitted = (Emitted(job.snapshot.version, job.settings_generation,
                              list(report.relocations), when)
                      if report.mode == COMPILED else None)
        self._keep(uri, st, job, res, ticket, compiled=True)
        self._wake(st)
        if not session.client.push and self.refresh is not None:
            self.refresh()
        return True

    async def model_of(self, uri: str, version: int | None) -> Any:
        """The document's source model of ``version`` once its analysis has made it and no
        other is on its way (what a compile's result is then shown after); None when the
        document changes or closes first."""
        loop = asyncio.get_running_loop()
        while True:
            st = self.states.get(uri)
            if st is None or st.doc.version != version:
                return None
            if st.model is not None and st.model_version == version \
                    and st.timer is None and not st.running:
                return st.model
            fut = loop.create_future()
            st.waiters.append(fut)
            await fut

    def emitted(self, uri: str) -> Emitted | None:
        """What clang emitted for the document's current text, when its source model is of
        that text too (hover tells which relocations clang confirmed)."""
        st = self.states.get(uri)
        if st is None or st.emitted is None:
            return None
        e = st.emitted
        if e.version != st.doc.version or st.model_version != e.version \
                or e.settings_generation != self.session.settings_generation:
            return None
        return e

    # -- diagnostics in other files -------------------------------------------------------

    def own(self, uri: str) -> list[lsp.Diagnostic]:
        """A document's diagnostics from its own analysis; none for a header that an open
        document includes (analysed there, in context, rather than on its own)."""
        st = self.states.get(uri)
        if st is None or st.result is None:
            return []
        path = st.doc.path
        if path is not None and any(path in o.files for o in self.states.values()
                                    if o is not st):
            return []
        return st.result.items

    def merged(self, uri: str, own: list[lsp.Diagnostic]) -> list[lsp.Diagnostic]:
        """A file's own diagnostics plus those that analysing the documents including it
        found in it (each once)."""
        extra = self.foreign.get(uri)
        if not extra:
            return own
        out = list(own)
        seen = {_key(d) for d in own}
        for items in extra.values():
            for d in items:
                k = _key(d)
                if k not in seen:
                    seen.add(k)
                    out.append(d)
        return out

    def _publish(self, uri: str) -> None:
        st = self.states.get(uri)
        r = st.result if st is not None else None
        self.publish(lsp.PublishDiagnosticsParams(
            uri=uri, version=r.version if r is not None else None,
            diagnostics=self.merged(uri, self.own(uri))))

    def _set_foreign(self, doc_uri: str, found: dict[str, list[lsp.Diagnostic]]) -> None:
        changed = []
        for uri, by_doc in list(self.foreign.items()):
            if doc_uri in by_doc and uri not in found:
                del by_doc[doc_uri]
                if not by_doc:
                    del self.foreign[uri]
                changed.append(uri)
        for uri, items in found.items():
            by_doc = self.foreign.setdefault(uri, {})
            if by_doc.get(doc_uri) != items:
                by_doc[doc_uri] = items
                changed.append(uri)
        if changed:
            self._foreign_changes += 1
            if self.session.client.push:
                for uri in changed:
                    if uri != doc_uri:
                        self._publish(uri)

    def related(self, doc_uri: str) -> dict[str, list[lsp.Diagnostic]]:
        """The diagnostics a document's analysis found in files that are not open."""
        return {uri: self.merged(uri, []) for uri, by_doc in self.foreign.items()
                if doc_uri in by_doc and uri not in self.states}

    def _wake(self, st: DocState) -> None:
        waiters, st.waiters = st.waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    def is_current(self, st: DocState) -> bool:
        r = st.result
        return (r is not None and r.version == st.doc.version
                and r.generation == self.session.generation)

    # -- pull -----------------------------------------------------------------------------

    async def pull(self, uri: str, previous_result_id: str | None):
        """The current report of a document (waiting for its analysis if needed)."""
        st = self.states.get(uri)
        if st is None:
            return lsp.FullDocumentDiagnosticReport(items=[])
        await self.session.wait_kernels_for_pull()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PULL_TIMEOUT
        while not self.is_current(st):
            if self.states.get(uri) is not st:
                return lsp.FullDocumentDiagnosticReport(items=[])
            if st.timer is not None or not st.running:
                self.schedule(uri, 0)  # asked for now: skip the rest of the debounce
            fut = loop.create_future()
            st.waiters.append(fut)
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                break
        r = st.result
        if r is None:
            return lsp.FullDocumentDiagnosticReport(items=[])
        rid = f"{r.result_id}.{self._foreign_changes}"
        related = {u: lsp.FullDocumentDiagnosticReport(items=items)
                   for u, items in self.related(uri).items()}
        if previous_result_id is not None and previous_result_id == rid:
            return lsp.RelatedUnchangedDocumentDiagnosticReport(
                result_id=rid, related_documents=related or None)
        return lsp.RelatedFullDocumentDiagnosticReport(
            items=self.merged(uri, list(self.own(uri))), result_id=rid,
            related_documents=related or None)

    async def with_model(self, uri: str, timeout: float) -> DocState | None:
        """The document's state once it has a source model (of any version), or None (not
        open, or no model within ``timeout``)."""
        st = self.states.get(uri)
        if st is None or st.model is not None:
            return st if st is not None and st.model is not None else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while st.model is None and self.states.get(uri) is st:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            fut = loop.create_future()
            st.waiters.append(fut)
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                return None
        return st if st.model is not None and self.states.get(uri) is st else None

    def engine_diagnostics(self, uri: str) -> Result | None:
        """The document's result: the engine's diagnostics, the text they are of, and the
        protocol diagnostics they were shown as."""
        st = self.states.get(uri)
        return st.result if st is not None else None
