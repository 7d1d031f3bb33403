"""The protocol handlers: plain functions ``handler(ls, params)``, one module per kind of
message, registered by :func:`bpfls.lsp.server.create_server` from the tables below.

- :mod:`.lifecycle`: initialize, initialized, shutdown, workspace/didChangeConfiguration.
- :mod:`.sync`: didOpen, didChange, didClose, didSave (the open documents' text).
- :mod:`.pull`: textDocument/diagnostic.
- :mod:`.language`: hover, completion (and its resolve), definition, code actions.
- :mod:`.commands`: workspace/executeCommand (the kernel type views).

A new request handler goes in the module of its kind (a new kind gets a module of its own)
and gets one line in :data:`FEATURES` or :data:`COMMANDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lsprotocol import types as lsp

from bpfls.lsp.handlers import commands, language, lifecycle, pull, sync

#: (method, its server capability options or None, handler)
FEATURES: tuple[tuple[str, Any, Callable], ...] = (
    (lsp.INITIALIZE, None, lifecycle.initialize),
    (lsp.INITIALIZED, None, lifecycle.initialized),
    (lsp.SHUTDOWN, None, lifecycle.shutdown),
    (lsp.WORKSPACE_DID_CHANGE_CONFIGURATION, None, lifecycle.did_change_configuration),
    (lsp.TEXT_DOCUMENT_DID_OPEN, None, sync.did_open),
    (lsp.TEXT_DOCUMENT_DID_CHANGE, None, sync.did_change),
    (lsp.TEXT_DOCUMENT_DID_CLOSE, None, sync.did_close),
    (lsp.TEXT_DOCUMENT_DID_SAVE, None, sync.did_save),
    (lsp.TEXT_DOCUMENT_DIAGNOSTIC, pull.OPTIONS, pull.diagnostic),
    (lsp.TEXT_DOCUMENT_HOVER, None, language.hover),
    (lsp.TEXT_DOCUMENT_COMPLETION, language.COMPLETION_OPTIONS, language.completion),
    (lsp.COMPLETION_ITEM_RESOLVE, None, language.completion_resolve),
    (lsp.TEXT_DOCUMENT_DEFINITION, None, language.definition),
    (lsp.TEXT_DOCUMENT_CODE_ACTION, language.CODE_ACTION_OPTIONS, language.code_action),
)

#: (command, handler ``handler(ls, *arguments)``)
COMMANDS: tuple[tuple[str, Callable], ...] = (
    ("bpfls.listKernels", commands.list_kernels),
    ("bpfls.listTypes", commands.list_types),
    ("bpfls.renderType", commands.render_type),
)
