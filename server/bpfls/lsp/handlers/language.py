"""Requests about a position in a document: hover, completion (and completionItem/resolve),
definition, code actions. Each waits briefly for the document's first source model, captures
what the engine needs on the event loop, and runs the engine and the conversion of its answer
in the request pool.

No handler raises: bad positions are clamped, unknown or closed documents get empty answers,
and an engine failure is logged and answered with nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp

from bpfls.lsp import convert
from bpfls.lsp.documents import Snapshot
from bpfls.lsp.handlers.engine import engine
from bpfls.project.kernels import KernelSet
from bpfls.source.positions import Position, Range

if TYPE_CHECKING:
    from bpfls.lsp.server import BpflsServer
    from bpfls.lsp.session import Session

log = logging.getLogger("bpfls.lsp")

#: how long a request about a document not analysed yet waits for its first analysis
FIRST_MODEL_WAIT = 2.0
#: the characters after which the client asks for completions (the engine's contract); a
#: space only continues the list a "," or "(" opened (``BPF_CORE_READ(task, ``): clients
#: close their list on a space
TRIGGER_CHARACTERS = (">", ".", ",", "(", '"', "/", " ")

COMPLETION_OPTIONS = lsp.CompletionOptions(trigger_characters=list(TRIGGER_CHARACTERS),
                                           resolve_provider=True)
CODE_ACTION_OPTIONS = lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix])


@dataclass(frozen=True)
class _Context:
    """What a request about a position in a document gives the engine, captured on the
    event loop."""

    model: Any  # the document's latest source model (possibly of an older version)
    kernels: KernelSet
    path: str  # the file the engine analyses for the document
    snap: Snapshot  # the document's current text
    pos: Position  # the request's position, in the engine's terms

    def ask(self, fn: Callable, **more: Any) -> Any:
        """``fn(model, kernels, path, text, position, **more)``: hover, completion,
        definition."""
        return fn(self.model, self.kernels, self.path, self.snap.text, self.pos, **more)


async def _run(session: Session, what: str, job: Callable[[], Any]) -> Any:
    """Run ``job`` in the request pool; an exception is logged and gives None. Cancelling
    the request ($/cancelRequest) cancels the wait (the answer is dropped)."""
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    try:
        return await loop.run_in_executor(session.request_pool, job)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001
        log.exception("%s failed", what)
        return None
    finally:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s in %.1f ms", what, (time.perf_counter() - t0) * 1e3)


async def _context(ls: BpflsServer, uri: str, line: int, character: int) -> _Context | None:
    """The request's context, or None when there is nothing to ask. A document not analysed
    yet (just opened) is waited for, briefly."""
    st = await ls.diagnostics.with_model(uri, FIRST_MODEL_WAIT)
    if st is None:
        return None
    session = ls.session
    snap = st.doc.snapshot()
    kernels = session.kernels.for_program(st.model.vmlinux_kernel if st.model else None)
    return _Context(st.model, kernels, session.engine_path(st.doc), snap,
                    snap.to_engine(line, character))


async def hover(ls: BpflsServer, params: lsp.HoverParams) -> lsp.Hover | None:
    uri = params.text_document.uri
    ctx = await _context(ls, uri, params.position.line, params.position.character)
    fn = engine("hover", "hover")
    if ctx is None:
        return None
    formats = ls.session.client.hover_formats
    compiled = ls.diagnostics.emitted(uri)
    emitted = None if compiled is None or compiled.version != ctx.snap.version else \
        engine("hover", "Emitted")(compiled.relocations,
                                   time.strftime("%H:%M:%S", time.localtime(compiled.when)))
    return await _run(ls.session, "hover", lambda: convert.hover(
        ctx.ask(fn, emitted=emitted), ctx.snap, formats))


async def completion(ls: BpflsServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    ctx = await _context(ls, params.text_document.uri, params.position.line,
                         params.position.character)
    fn = engine("completion", "complete")
    if ctx is None or (_space_triggered(params) and not _after_argument_separator(ctx)):
        return lsp.CompletionList(is_incomplete=False, items=[])
    session = ls.session
    client = session.client
    formats = client.documentation_formats
    key = session.completions.new_key() if client.resolve_documentation else None
    shared_range = client.shared_edit_range

    def job() -> tuple[list, lsp.CompletionList]:
        result = ctx.ask(fn)
        entries = list(result.items) if result is not None else []
        return entries, convert.completion(result, ctx.snap, formats, key, shared_range)
    res = await _run(session, "completion", job)
    if res is None:
        return lsp.CompletionList(is_incomplete=False, items=[])
    if key is not None:
        session.completions.store(key, res[0])
    return res[1]


def _space_triggered(params: lsp.CompletionParams) -> bool:
    c = params.context
    return c is not None and c.trigger_kind == lsp.CompletionTriggerKind.TriggerCharacter \
        and c.trigger_character == " "


def _after_argument_separator(ctx: _Context) -> bool:
    """The spaces before the position follow a "," or "(" (a macro's next argument)."""
    lines = ctx.snap.lines
    if not 0 <= ctx.pos.line < len(lines):
        return False
    before = lines[ctx.pos.line].encode("utf-8", "surrogatepass")[:ctx.pos.column].rstrip()
    return before.endswith((b",", b"("))


def completion_resolve(ls: BpflsServer, item: lsp.CompletionItem) -> lsp.CompletionItem:
    key = item.data.get("r") if isinstance(item.data, dict) else None
    session = ls.session
    try:
        return convert.resolve_completion(item, session.completions.get(key),
                                          session.client.documentation_formats)
    except Exception:  # noqa: BLE001
        log.exception("completionItem/resolve failed")
        return item


async def definition(ls: BpflsServer, params: lsp.DefinitionParams) -> list[lsp.Location] | None:
    ctx = await _context(ls, params.text_document.uri, params.position.line,
                         params.position.character)
    fn = engine("definition", "definition")
    if ctx is None:
        return None
    snapshot_of = ls.session.snapshot_of()

    def job() -> list[lsp.Location]:
        out = []
        for loc in ctx.ask(fn) or ():
            x = convert.location(loc, snapshot_of)
            if x is not None:
                out.append(x)
        return out
    return await _run(ls.session, "definition", job) or None


async def code_action(ls: BpflsServer, params: lsp.CodeActionParams
                      ) -> list[lsp.CodeAction] | None:
    uri = params.text_document.uri
    r = params.range
    ctx = await _context(ls, uri, r.start.line, r.start.character)
    fn = engine("actions", "code_actions")
    if ctx is None:
        return None
    session = ls.session
    if not session.client.code_action_literals:
        return None
    only = list(params.context.only or ())
    snap = ctx.snap
    rng = Range(ctx.pos, snap.to_engine(r.end.line, r.end.character))
    result = ls.diagnostics.engine_diagnostics(uri)
    diags, dsnap, shown = [], snap, {}
    if result is not None:
        diags, dsnap = result.diagnostics, result.snapshot
        shown = {id(d): item for d, item in zip(diags, result.items, strict=True)}
    snapshot_of = session.snapshot_of()
    converter = session.converter
    preferred = session.client.preferred_code_actions

    def to_lsp(d):  # as the diagnostic was shown (its data.source too)
        return shown.get(id(d)) or converter.convert(d, dsnap, uri)

    def job() -> list[lsp.CodeAction]:
        out = []
        for a in fn(ctx.model, list(diags), ctx.path, snap.text, rng,
                    kernels=ctx.kernels) or ():
            kind = a.kind or "quickfix"
            if only and not any(o == "" or kind == o or kind.startswith(f"{o}.")
                                for o in only):
                continue
            ca = convert.code_action(a, snapshot_of, to_lsp)
            if not preferred:
                ca.is_preferred = None
            out.append(ca)
        return out
    return await _run(session, "code actions", job) or None
