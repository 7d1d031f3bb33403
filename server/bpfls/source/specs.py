"""libbpf's human form of a relocation spec (``bpf_core_format_spec`` without the ids)."""

from __future__ import annotations

from bpfls.btf import BtfError, Kind
from bpfls.core.relo import Relocation

_KIND_WORDS = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum",
               Kind.ENUM64: "enum64", Kind.TYPEDEF: "typedef", Kind.FWD: "fwd", Kind.INT: "int",
               Kind.PTR: "ptr", Kind.ARRAY: "array", Kind.FLOAT: "float",
               Kind.FUNC_PROTO: "func_proto", Kind.VOLATILE: "volatile", Kind.CONST: "const",
               Kind.RESTRICT: "restrict", Kind.FUNC: "func", Kind.VAR: "var",
               Kind.DATASEC: "datasec", Kind.DECL_TAG: "decl_tag", Kind.TYPE_TAG: "type_tag"}


def root_name(relo: Relocation) -> str:
    """``struct task_struct``, ``typedef foo_t``, ``enum e`` (``<anon>`` for no name)."""
    try:
        t = relo.local[relo.type_id]
    except BtfError:
        return f"[{relo.type_id}]"
    if relo.type_id == 0:
        return "void"
    return f"{_KIND_WORDS.get(t.kind, t.kind.name.lower())} {t.name or '<anon>'}"


def format_spec(relo: Relocation) -> str:
    """``struct task_struct.real_parent``, ``struct sock.__sk_common.skc_daddr`` (anonymous
    members left out), ``struct s.arr[2]``, ``struct s[1].a``, ``enum e::NAME``, ``struct s``."""
    head = root_name(relo)
    kind = relo.kind
    if kind.is_type:
        return head
    btf = relo.local
    try:
        if kind.is_enumval:
            t = btf.resolve(relo.type_id)
            vals = t.values
            i = relo.access[0] if relo.access else -1
            name = vals[i].name if 0 <= i < len(vals) else f"<{i}>"
            return f"{head}::{name}"
        out = [head]
        acc = relo.access
        if not acc:
            return head
        if acc[0]:
            out.append(f"[{acc[0]}]")
        t = btf.resolve(relo.type_id)
        for idx in acc[1:]:
            if t.kind in (Kind.STRUCT, Kind.UNION):
                ms = t.members
                if idx >= len(ms):
                    out.append(f".<{idx}>")
                    break
                m = ms[idx]
                if m.name:
                    out.append(f".{m.name}")
                t = btf.resolve(m.type_id)
            elif t.kind == Kind.ARRAY:
                out.append(f"[{idx}]")
                t = btf.resolve(t.array.type_id)
            else:
                out.append(f"[{idx}]")
                break
        return "".join(out)
    except (BtfError, TypeError):
        return f"{head} ({relo.access_str})"
