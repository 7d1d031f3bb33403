"""The open documents' text: didOpen, didChange, didClose, didSave. Each edit is applied to
the :class:`~bpfls.lsp.documents.Document` and the document is scheduled for analysis (and,
once left alone or saved, for a compile)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types as lsp

from bpfls.lsp import configuration
from bpfls.lsp.documents import Document
from bpfls.lsp.paths import fs_path

if TYPE_CHECKING:
    from bpfls.lsp.server import BpflsServer

log = logging.getLogger("bpfls.lsp")


def did_open(ls: BpflsServer, params: lsp.DidOpenTextDocumentParams) -> None:
    td = params.text_document
    path = fs_path(td.uri) if td.uri.startswith("file:") else None
    doc = Document(td.uri, path, td.text, td.version, td.language_id,
                   ls.session.client.encoding)
    ls.session.docs[td.uri] = doc
    ls.diagnostics.opened(doc)
    ls.compiles.opened(td.uri)


def did_change(ls: BpflsServer, params: lsp.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    doc = ls.session.docs.get(uri)
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
    ls.compiles.changed(uri)


def did_close(ls: BpflsServer, params: lsp.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.compiles.closed(uri)
    ls.session.docs.pop(uri, None)
    ls.diagnostics.closed(uri)


def did_save(ls: BpflsServer, params: lsp.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.diagnostics.saved(uri)
    ls.compiles.saved(uri)
    name = uri.rsplit("/", 1)[-1]
    if name == "bpfls.toml":
        configuration.request_configure(ls)
    elif name in ("compile_commands.json", "compile_flags.txt"):
        configuration.changed(ls)
