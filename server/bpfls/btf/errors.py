"""The one error type the BTF engine raises for bad input."""

from __future__ import annotations


class BtfError(Exception):
    """Malformed, truncated or unreadable BTF.

    ``path`` names the file (or ``<bytes>``), ``offset`` is the byte offset inside the BTF blob
    where the problem was found (``None`` when it is not about a position), ``type_id`` the type
    being decoded when there is one.
    """

    def __init__(
        self,
        message: str,
        path: str | None = None,
        offset: int | None = None,
        type_id: int | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.offset = offset
        self.type_id = type_id
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        if self.type_id is not None:
            where.append(f"type [{self.type_id}]")
        prefix = f"{self.path}: " if self.path else ""
        loc = f"{', '.join(where)}: " if where else ""
        return f"{prefix}{loc}{self.message}"
