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
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp

from bpfls.lsp import convert
from bpfls.lsp.files import snapshots_of
from bpfls.lsp.handlers.engine import engine
from bpfls.source.positions import Range

if TYPE_CHECKING:
    from bpfls.lsp.server import BpflsServer

log = logging.getLogger("bpfls.lsp")

#: how long a request about a document not analysed yet waits for its first analysis
FIRST_MODEL_WAIT = 2.0
#: the characters after which the client asks for completions (the engine's contract)
TRIGGER_CHARACTERS = (">", ".", ",", "(", '"', "/")

COMPLETION_OPTIONS = lsp.CompletionOptions(trigger_characters=list(TRIGGER_CHARACTERS),
                                           resolve_provider=True)
CODE_ACTION_OPTIONS = lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix])


async def _run(server: BpflsServer, what: str, job: Callable[[], Any]) -> Any:
    """Run ``job`` in the request pool; an exception is logged and gives None. Cancelling
    the request ($/cancelRequest) cancels the wait (the answer is dropped)."""
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    try:
        return await loop.run_in_executor(server.request_pool, job)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001
        log.exception("%s failed", what)
        return None
    finally:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s in %.1f ms", what, (time.perf_counter() - t0) * 1e3)


async def _request_context(server: BpflsServer, uri: str, line: int, character: int):
    """(document state, snapshot, engine position) or None when there is nothing to ask.
    A document not analysed yet (just opened) is waited for, briefly."""
    st = await server.diagnostics.with_model(uri, FIRST_MODEL_WAIT)
    if st is None:
        return None
    snap = st.doc.snapshot()
    return st, snap, snap.to_engine(line, character)


def _formats(server: BpflsServer, field: str) -> list[str]:
    return list(server.cap(field, None) or [])


async def hover(ls: BpflsServer, params: lsp.HoverParams) -> lsp.Hover | None:
    ctx = await _request_context(ls, params.text_document.uri, params.position.line,
                                 params.position.character)
    fn = engine("hover", "hover")
    if ctx is None:
        return None
    st, snap, pos = ctx
    model, kernels, path = st.model, ls.kernels, ls.engine_path(st.doc)
    formats = _formats(ls, "text_document.hover.content_format")
    return await _run(ls, "hover", lambda: convert.hover(
        fn(model, kernels, path, snap.text, pos), snap, formats))


async def completion(ls: BpflsServer, params: lsp.CompletionParams):
    ctx = await _request_context(ls, params.text_document.uri, params.position.line,
                                 params.position.character)
    fn = engine("completion", "complete")
    if ctx is None:
        return lsp.CompletionList(is_incomplete=False, items=[])
    st, snap, pos = ctx
    model, kernels, path = st.model, ls.kernels, ls.engine_path(st.doc)
    formats = _formats(ls, "text_document.completion.completion_item.documentation_format")
    lazy = "documentation" in (ls.cap(
        "text_document.completion.completion_item.resolve_support.properties", None) or ())
    key = ls.remember_completion() if lazy else None
    shared_range = "editRange" in (ls.cap(
        "text_document.completion.completion_list.item_defaults", None) or ())

    def job() -> tuple[list, lsp.CompletionList]:
        result = fn(model, kernels, path, snap.text, pos)
        entries = list(result.items) if result is not None else []
        return entries, convert.completion(result, snap, formats, key, shared_range)
    res = await _run(ls, "completion", job)
    if res is None:
        return lsp.CompletionList(is_incomplete=False, items=[])
    if key is not None and key in ls.completions:
        ls.completions[key] = res[0]
    return res[1]


def completion_resolve(ls: BpflsServer, item: lsp.CompletionItem) -> lsp.CompletionItem:
    key = item.data.get("r") if isinstance(item.data, dict) else None
    formats = _formats(ls, "text_document.completion.completion_item.documentation_format")
    try:
        return convert.resolve_completion(item, ls.completions.get(key), formats)
    except Exception:  # noqa: BLE001
        log.exception("completionItem/resolve failed")
        return item


async def definition(ls: BpflsServer, params: lsp.DefinitionParams):
    ctx = await _request_context(ls, params.text_document.uri, params.position.line,
                                 params.position.character)
    fn = engine("definition", "definition")
    if ctx is None:
        return None
    st, snap, pos = ctx
    model, kernels, path = st.model, ls.kernels, ls.engine_path(st.doc)
    snapshot_of = snapshots_of(ls.docs.values(), ls.files, ls.encoding)

    def job() -> list[lsp.Location]:
        out = []
        for loc in fn(model, kernels, path, snap.text, pos) or ():
            x = convert.location(loc, snapshot_of)
            if x is not None:
                out.append(x)
        return out
    return await _run(ls, "definition", job) or None


async def code_action(ls: BpflsServer, params: lsp.CodeActionParams):
    uri = params.text_document.uri
    r = params.range
    ctx = await _request_context(ls, uri, r.start.line, r.start.character)
    fn = engine("actions", "code_actions")
    if ctx is None:
        return None
    if not ls.cap("text_document.code_action.code_action_literal_support", None):
        return None
    only = list(params.context.only or ())
    st, snap, start = ctx
    rng = Range(start, snap.to_engine(r.end.line, r.end.character))
    diags, dsnap = ls.diagnostics.engine_diagnostics(uri)
    model, path = st.model, ls.engine_path(st.doc)
    snapshot_of = snapshots_of(ls.docs.values(), ls.files, ls.encoding)
    converter = ls.converter
    preferred = bool(ls.cap("text_document.code_action.is_preferred_support", False))
    kernels = ls.kernels

    def to_lsp(d):
        return converter.convert(d, dsnap or snap, uri)

    def job():
        out = []
        for a in fn(model, list(diags), path, snap.text, rng, kernels=kernels) or ():
            kind = a.kind or "quickfix"
            if only and not any(o == "" or kind == o or kind.startswith(f"{o}.")
                                for o in only):
                continue
            ca = convert.code_action(a, snapshot_of, to_lsp)
            if not preferred:
                ca.is_preferred = None
            out.append(ca)
        return out
    return await _run(ls, "code actions", job) or None
