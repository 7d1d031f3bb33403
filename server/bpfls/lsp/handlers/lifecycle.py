"""initialize, initialized, shutdown, and the client's notice that its settings changed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lsprotocol import types as lsp

from bpfls.lsp import configuration
from bpfls.lsp.client import ClientFacts
from bpfls.lsp.settings import merge_settings, unwrap

if TYPE_CHECKING:
    from bpfls.lsp.server import BpflsServer


def initialize(ls: BpflsServer, params: lsp.InitializeParams) -> None:
    session = ls.session
    session.initialize(ClientFacts.from_initialize(params, ls.position_encoding()))
    ls.log_handler.attach(asyncio.get_running_loop())

    # Start loading the kernels now when workspace/configuration cannot change them
    # (initializationOptions name both the kernels and the primary, or the client has no
    # workspace/configuration); otherwise once it has answered (see initialized).
    client = session.client
    init = unwrap(client.init_options) or {}
    if (init.get("kernels") and init.get("primary")) or not client.configuration:
        configuration.apply_settings(ls, merge_settings(client.init_options, None,
                                                       client.root))


def initialized(ls: BpflsServer, params: lsp.InitializedParams) -> None:
    ls.on_initialized()
    configuration.request_configure(ls)


def shutdown(ls: BpflsServer, params: None) -> None:
    ls.stop()


def did_change_configuration(ls: BpflsServer, params: lsp.DidChangeConfigurationParams) -> None:
    ls.session.pushed_settings = params.settings
    configuration.request_configure(ls)
