"""workspace/executeCommand: the commands behind the editors' kernel type views
(``bpfls.listKernels``, ``bpfls.listTypes``, ``bpfls.renderType``). A bad argument or an
engine error is the request's error (InvalidParams, one line).

The command handlers' parameters carry no annotations: pygls resolves them at run time to
convert the arguments, and the server's class is not importable here (it imports this).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pygls.exceptions import JsonRpcInvalidParams

from bpfls.lsp.handlers.engine import engine

if TYPE_CHECKING:
    from bpfls.lsp.server import BpflsServer


def _arg(args: tuple) -> dict:
    if not args or args[0] is None:
        return {}
    if not isinstance(args[0], dict):
        raise JsonRpcInvalidParams("the argument must be an object")
    return args[0]


async def _typeview(ls: BpflsServer, name: str, *call):
    fn = engine("typeview", name)
    kernels = ls.session.kernels
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(ls.session.request_pool, lambda: fn(kernels, *call))
    except (TypeError, ValueError) as e:
        raise JsonRpcInvalidParams(str(e)) from None
    except Exception as e:  # noqa: BLE001 - TypeViewError and the like: one line
        raise JsonRpcInvalidParams(str(e).splitlines()[0] if str(e) else
                                   type(e).__name__) from None


def list_kernels(ls, *args):
    fn = engine("typeview", "list_kernels")
    kernels, loading = ls.session.kernel_listing()
    return fn(kernels, loading)


async def list_types(ls, *args):
    a = _arg(args)
    kernel, prefix, limit = a.get("kernel"), a.get("prefix") or "", a.get("limit")
    if not isinstance(kernel, str) or not isinstance(prefix, str) or not (
            limit is None or isinstance(limit, int)):
        raise JsonRpcInvalidParams("expected {kernel: str, prefix?: str, limit?: int}")
    return await _typeview(ls, "list_types", kernel, prefix, limit)


async def render_type(ls, *args):
    a = _arg(args)
    kernel, name = a.get("kernel"), a.get("name")
    if not isinstance(kernel, str) or not isinstance(name, str):
        raise JsonRpcInvalidParams("expected {kernel: str, name: str}")
    return {"text": await _typeview(ls, "render_type", kernel, name)}
