"""The macros and builtins whose CO-RE meaning the analyser implements itself (the
*intrinsics*: ``BPF_CORE_READ``, ``bpf_core_field_exists``, ``BPF_PROG``, ...), by family.
"""

from __future__ import annotations

# -- the intrinsics, by family -------------------------------------------------------------

#: hop-by-hop pointer chasing: name → (takes a dst argument, CO-RE (not BPF_PROBE_READ),
#: reads user memory, final read is a string read)
CORE_READ_MACROS = {
    "BPF_CORE_READ": (False, True, False, False),
    "BPF_CORE_READ_INTO": (True, True, False, False),
    "BPF_CORE_READ_STR_INTO": (True, True, False, True),
    "BPF_CORE_READ_USER": (False, True, True, False),
    "BPF_CORE_READ_USER_INTO": (True, True, True, False),
    "BPF_CORE_READ_USER_STR_INTO": (True, True, True, True),
    "BPF_PROBE_READ": (False, False, False, False),
    "BPF_PROBE_READ_INTO": (True, False, False, False),
    "BPF_PROBE_READ_STR_INTO": (True, False, False, True),
    "BPF_PROBE_READ_USER": (False, False, True, False),
    "BPF_PROBE_READ_USER_INTO": (True, False, True, False),
    "BPF_PROBE_READ_USER_STR_INTO": (True, False, True, True),
}

#: bpf_core_read(dst, sz, src) family: src is relocated (a preserve_access_index region)
CORE_READ_FUNCS = {
    "bpf_core_read": False,
    "bpf_core_read_str": False,
    "bpf_core_read_user": True,
    "bpf_core_read_user_str": True,
}

BITFIELD_MACROS = frozenset({"BPF_CORE_READ_BITFIELD", "BPF_CORE_READ_BITFIELD_PROBED",
                             "BPF_CORE_WRITE_BITFIELD"})

FIELD_INFO_MACROS = {
    "bpf_core_field_exists": 2,
    "bpf_core_field_size": 1,
    "bpf_core_field_offset": 0,
}

TYPE_INFO_MACROS = {
    "bpf_core_type_exists": 8,
    "bpf_core_type_size": 9,
    "bpf_core_type_matches": 12,
    "bpf_core_type_id_local": 6,
    "bpf_core_type_id_kernel": 7,
}

ENUM_INFO_MACROS = {
    "bpf_core_enum_value_exists": 10,
    "bpf_core_enum_value": 11,
}

BUILTINS = frozenset({"__builtin_preserve_access_index", "__builtin_preserve_field_info",
                      "__builtin_preserve_type_info", "__builtin_preserve_enum_value",
                      "__builtin_btf_type_id"})

#: BPF program definition macros: name → how the parameters are passed
PROGRAM_MACROS = {
    "BPF_PROG": "ctx",
    "BPF_PROG2": "ctx2",
    "BPF_KPROBE": "kprobe",
    "BPF_KRETPROBE": "kretprobe",
    "BPF_UPROBE": "kprobe",
    "BPF_URETPROBE": "kretprobe",
    "BPF_KSYSCALL": "ksyscall",
    "BPF_KPROBE_SYSCALL": "ksyscall",
    "BPF_USDT": "usdt",
}

CORE_INTRINSICS = frozenset(CORE_READ_MACROS) | frozenset(CORE_READ_FUNCS) | BITFIELD_MACROS \
    | frozenset(FIELD_INFO_MACROS) | frozenset(TYPE_INFO_MACROS) | frozenset(ENUM_INFO_MACROS) \
    | frozenset({"bpf_core_cast"})

#: every name the analyser interprets itself (never expanded from a user definition)
ALL_INTRINSICS = CORE_INTRINSICS | frozenset(PROGRAM_MACROS) | BUILTINS
