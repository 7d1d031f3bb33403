"""textDocument/diagnostic: a client that pulls diagnostics asks for a document's report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types as lsp

if TYPE_CHECKING:
    from bpfls.lsp.server import BpflsServer

OPTIONS = lsp.DiagnosticOptions(identifier="bpfls", inter_file_dependencies=True,
                                workspace_diagnostics=False)


async def diagnostic(ls: BpflsServer, params: lsp.DocumentDiagnosticParams):
    return await ls.diagnostics.pull(params.text_document.uri, params.previous_result_id)
