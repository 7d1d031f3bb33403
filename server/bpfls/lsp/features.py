"""The protocol handlers: each converts positions, calls the engine off the event loop and
converts the answer. Engine features (``bpfls.analysis.hover``, ``completion``,
``definition``, ``actions``, ``typeview``) are imported on first use.

No handler raises: bad positions are clamped, unknown or closed documents get empty answers,
and an engine failure is logged and answered with nothing.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams

from bpfls.lsp import convert
from bpfls.lsp.documents import Document
from bpfls.lsp.files import snapshots_of
from bpfls.lsp.paths import fs_path
from bpfls.source.positions import Range

if TYPE_CHECKING:
    from bpfls.lsp.server import BpflsServer

log = logging.getLogger("bpfls.lsp")

#: how long a request about a document not analysed yet waits for its first analysis
FIRST_MODEL_WAIT = 2.0
#: the characters after which the client asks for completions (the engine's contract)
TRIGGER_CHARACTERS = (">", ".", ",", "(", '"', "/")

def engine(module: str, name: str) -> Callable:
    """``bpfls.analysis.<module>.<name>``, imported on first use (not at start-up)."""
    return getattr(importlib.import_module(f"bpfls.analysis.{module}"), name)


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


def register(server: BpflsServer) -> None:
    from bpfls.lsp.server import encoding_of

    # -- lifecycle ------------------------------------------------------------------------

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: BpflsServer, params: lsp.InitializeParams) -> None:
        ls.encoding = encoding_of(ls)
        ls.push = ls.cap("text_document.diagnostic") is None
        related = bool(ls.cap("text_document.publish_diagnostics.related_information", False)
                       or ls.cap("text_document.diagnostic.related_information", False))
        tags = (ls.cap("text_document.publish_diagnostics.tag_support.value_set", None)
                or ls.cap("text_document.diagnostic.tag_support.value_set", None) or [])
        ls.converter = convert.DiagnosticConverter(related_information=related, tags=tags)
        folders = params.workspace_folders or []
        ls.root_uri = folders[0].uri if folders else params.root_uri
        ls.root = (fs_path(ls.root_uri) if ls.root_uri else None) or params.root_path
        ls.init_options = params.initialization_options
        ls.log_handler.attach(asyncio.get_running_loop())
        from bpfls.lsp.settings import merge_settings, unwrap

        # Start loading the kernels now when workspace/configuration cannot change them
        # (initializationOptions name both the kernels and the primary, or the client has no
        # workspace/configuration); otherwise once it has answered (see initialized).
        init = unwrap(ls.init_options) or {}
        if (init.get("kernels") and init.get("primary")) or not ls.cap(
                "workspace.configuration", False):
            ls.apply_settings(merge_settings(ls.init_options, None, ls.root))

    @server.feature(lsp.INITIALIZED)
    def initialized(ls: BpflsServer, params: lsp.InitializedParams) -> None:
        ls.on_initialized()
        ls.request_configure()

    @server.feature(lsp.SHUTDOWN)
    def shutdown(ls: BpflsServer, params: None) -> None:
        ls.stop()

    # -- documents ------------------------------------------------------------------------

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: BpflsServer, params: lsp.DidOpenTextDocumentParams) -> None:
        td = params.text_document
        path = fs_path(td.uri) if td.uri.startswith("file:") else None
        doc = Document(td.uri, path, td.text, td.version, td.language_id, ls.encoding)
        ls.docs[td.uri] = doc
        ls.diagnostics.opened(doc)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: BpflsServer, params: lsp.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        doc = ls.docs.get(uri)
        if doc is None:
            log.debug("didChange for a document that is not open: %s", uri)
            return
        for change in params.content_changes:
            if isinstance(change, lsp.TextDocumentContentChangePartial):
                r = change.range
                doc.apply_change(change.text, ((r.start.line, r.start.character),
                                               (r.end.line, r.end.character)))
            else:
                doc.apply_change(change.text, None)
        doc.set_version(params.text_document.version)
        ls.diagnostics.changed(uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: BpflsServer, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.docs.pop(uri, None)
        ls.diagnostics.closed(uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: BpflsServer, params: lsp.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.diagnostics.saved(uri)
        name = uri.rsplit("/", 1)[-1]
        if name == "bpfls.toml":
            ls.request_configure()
        elif name in ("compile_commands.json", "compile_flags.txt"):
            ls.changed()

    @server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: BpflsServer,
                                 params: lsp.DidChangeConfigurationParams) -> None:
        ls.pushed_settings = params.settings
        ls.request_configure()

    # -- diagnostics (pull) ---------------------------------------------------------------

    @server.feature(lsp.TEXT_DOCUMENT_DIAGNOSTIC, lsp.DiagnosticOptions(
        identifier="bpfls", inter_file_dependencies=True, workspace_diagnostics=False))
    async def diagnostic(ls: BpflsServer, params: lsp.DocumentDiagnosticParams):
        return await ls.diagnostics.pull(params.text_document.uri, params.previous_result_id)

    # -- hover, completion, definition, code actions ---------------------------------------

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
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

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(
        trigger_characters=list(TRIGGER_CHARACTERS), resolve_provider=True))
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

    @server.feature(lsp.COMPLETION_ITEM_RESOLVE)
    def completion_resolve(ls: BpflsServer, item: lsp.CompletionItem) -> lsp.CompletionItem:
        key = item.data.get("r") if isinstance(item.data, dict) else None
        formats = _formats(ls, "text_document.completion.completion_item.documentation_format")
        try:
            return convert.resolve_completion(item, ls.completions.get(key), formats)
        except Exception:  # noqa: BLE001
            log.exception("completionItem/resolve failed")
            return item

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
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

    @server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION, lsp.CodeActionOptions(
        code_action_kinds=[lsp.CodeActionKind.QuickFix]))
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

    # -- commands behind the editors' kernel type views -----------------------------------

    def _arg(args: tuple) -> dict:
        if not args or args[0] is None:
            return {}
        if not isinstance(args[0], dict):
            raise JsonRpcInvalidParams("the argument must be an object")
        return args[0]

    async def _typeview(ls, name: str, *call):
        fn = engine("typeview", name)
        kernels = ls.kernels
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(ls.request_pool, lambda: fn(kernels, *call))
        except (TypeError, ValueError) as e:
            raise JsonRpcInvalidParams(str(e)) from None
        except Exception as e:  # noqa: BLE001 - TypeViewError and the like: one line
            raise JsonRpcInvalidParams(str(e).splitlines()[0] if str(e) else
                                       type(e).__name__) from None

    @server.command("bpfls.listKernels")
    def list_kernels(ls, *args):
        fn = engine("typeview", "list_kernels")
        kernels, loading = ls.kernel_listing()
        return fn(kernels, loading)

    @server.command("bpfls.listTypes")
    async def list_types(ls, *args):
        a = _arg(args)
        kernel, prefix, limit = a.get("kernel"), a.get("prefix") or "", a.get("limit")
        if not isinstance(kernel, str) or not isinstance(prefix, str) or not (
                limit is None or isinstance(limit, int)):
            raise JsonRpcInvalidParams("expected {kernel: str, prefix?: str, limit?: int}")
        return await _typeview(ls, "list_types", kernel, prefix, limit)

    @server.command("bpfls.renderType")
    async def render_type(ls, *args):
        a = _arg(args)
        kernel, name = a.get("kernel"), a.get("name")
        if not isinstance(kernel, str) or not isinstance(name, str):
            raise JsonRpcInvalidParams("expected {kernel: str, name: str}")
        return {"text": await _typeview(ls, "render_type", kernel, name)}

