"""The engine's editor features (``bpfls.analysis.hover``, ``completion``, ``definition``,
``actions``, ``typeview``), imported on first use: the server starts without them."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def engine(module: str, name: str) -> Callable:
    """``bpfls.analysis.<module>.<name>``, imported on first use (not at start-up)."""
    # imported here, not at the top: they are not needed to answer initialize
    return getattr(importlib.import_module(f"bpfls.analysis.{module}"), name)
