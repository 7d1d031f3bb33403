"""Reading BPF objects (:mod:`bpfls.core.objfile`): code sections, functions and where calls
lead, on clang's objects and on crafted and hostile ones.

Whatever the file, reading it either gives an object or raises one :class:`ObjectError` whose
message is one line naming the file, in bounded time."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from bpfls.btf import BtfError, load
from bpfls.core.objects import judge_object
from bpfls.core.objfile import (
    MAX_SECTIONS,
    ObjectError,
    is_bpf_object,
    object_from_bytes,
    read_object,
)
from bpfls.core.reach import reach

from btfbuild import BtfBuilder
from conftest import SAMPLE_DIR, require_tool
from coreoracle import compile_objects, elf_object, insn, ldimm64

FIXTURES = Path(__file__).parent / "fixtures" / "reach"
EXIT = insn(0x95)
CALL_LOCAL = 0x85  # with src_reg 1


@pytest.fixture(scope="module")
def objects() -> dict[str, Path]:
    clang = require_tool("clang-16")
    return compile_objects(clang, sorted(FIXTURES.glob("*.bpf.c")),
                           SAMPLE_DIR / "6.12-amd64.btf.xz")


def _btf() -> bytes:
    b = BtfBuilder()
    b.int_("int", 4, signed=True)
    return b.build()


def _object(code: dict[str, bytes], functions, relocations=None, *, extra=None,
            machine: int = 247) -> bytes:
    sections = {**code, ".BTF": _btf(), **(extra or {})}
    return elf_object(sections, tuple(code), functions=tuple(functions),
                      relocations=relocations, machine=machine)


# -- clang's objects ---------------------------------------------------------------------------

def test_functions_and_programs(objects) -> None:
    obj = read_object(objects["calls.bpf.c"])
    funcs = {f.name: f for f in obj.functions}
    assert funcs["has_state"].section == ".text" and not funcs["has_state"].is_global
    assert funcs["global_read"].is_global and funcs["global_read"].verified_alone
    assert not funcs["has_state"].verified_alone
    assert funcs["helper_guard"].is_program
    assert funcs["helper_guard"].sec_name == "raw_tp/helper_guard"
    assert funcs["has_state"].sec_name is None
    assert all(f.autoload for f in obj.programs)
    assert obj.function_at(".text", funcs["read_state"].start + 1) is funcs["read_state"]
    assert obj.function_at(".text", 10_000) is None
    assert obj.function("no such") is None
    for f in obj.functions:
        assert len(obj.sections[f.section]) >= f.end > f.start
    guards = read_object(objects["guards.bpf.c"])
    assert not guards.function("not_loaded").autoload
    assert guards.function("not_loaded").section == "?raw_tp/not_loaded"


def test_calls_and_callbacks_resolve_to_functions(objects) -> None:
    obj = read_object(objects["calls.bpf.c"])
    targets = {}
    for (sec, idx), site in obj.sites.items():
        caller = obj.function_at(sec, idx)
        assert site.target is not None and site.error is None, site
        targets.setdefault(caller.name, set()).add((site.kind, site.target.name))
    assert targets["helper_guard"] == {("call", "has_state")}
    assert targets["guarded_call"] == {("call", "read_state"), ("call", "read_new_state")}
    assert targets["calls_global"] == {("call", "global_read"), ("call", "global_guarded")}
    assert targets["loop_callback"] == {("func", "loop_guarded"), ("func", "loop_ctx_guard")}
    # the relocated instruction bytes are the object's
    for r in obj.ext.relocations:
        assert r.insn == obj.sections[r.section].insn(r.insn_off // 8)


def test_instructions_decode(objects) -> None:
    obj = read_object(objects["guards.bpf.c"])
    sec = obj.sections["raw_tp/if_guard"]
    codes, dsts, srcs, offs, imms = sec.fields
    assert len(codes) == len(sec) == len(sec.insns)
    for i, ins in enumerate(sec.insns):
        assert (ins.code, ins.dst, ins.src, ins.off, ins.imm) == (
            codes[i], dsts[i], srcs[i], offs[i], imms[i])
    assert codes[-1] == 0x95  # exit
    with pytest.raises(IndexError):
        sec.insn(len(sec))


def test_is_bpf_object_by_content(objects, tmp_path) -> None:
    data = objects["calls.bpf.c"].read_bytes()
    assert is_bpf_object(data)
    renamed = tmp_path / "anything.bin"
    renamed.write_bytes(data)
    assert read_object(renamed).functions
    assert not is_bpf_object(b"")
    assert not is_bpf_object(b"\x7fELF")
    assert not is_bpf_object(_object({".text": EXIT}, [], machine=62))
    assert not is_bpf_object(b"BTF\0" * 10)


# -- calls, as libbpf computes them --------------------------------------------------------------

def test_call_targets_as_libbpf_computes_them() -> None:
    text = insn(0xB7, 0, imm=1) + EXIT + insn(0xB7, 0, imm=2) + EXIT  # f0 at 0, f1 at 2
    prog = (insn(CALL_LOCAL, src=1, imm=-1)  # global f1 through its own symbol
            + insn(CALL_LOCAL, src=1, imm=1)  # static f1 through .text's symbol: 0/8 + 1 + 1
            + ldimm64(2, 16)  # f1's address through .text's symbol: (0 + 16) / 8
            + insn(CALL_LOCAL, src=1, imm=-1)  # an extern: a kfunc
            + insn(CALL_LOCAL, src=1, imm=5)  # no relocation: 5 + 5 + 1, past the section
            + EXIT)
    data = _object({".text": text, "kprobe/p": prog},
                   [("f0", ".text", 0, 16, False), ("f1", ".text", 16, 16, True),
                    ("p", "kprobe/p", 0, len(prog), True)],
                   {"kprobe/p": [(0, "f1"), (8, ".text"), (16, ".text"), (32, "bpf_kfunc")]})
    obj = object_from_bytes(data, "calls.o")
    sites = obj.sites
    assert sites[("kprobe/p", 0)].target.name == "f1"
    assert sites[("kprobe/p", 1)].target.name == "f1"
    assert sites[("kprobe/p", 2)].kind == "func" and sites[("kprobe/p", 2)].target.name == "f1"
    assert sites[("kprobe/p", 4)].extern == "bpf_kfunc" and sites[("kprobe/p", 4)].target is None
    bad = sites[("kprobe/p", 5)]
    assert bad.target is None and "no function starts" in bad.error
    assert obj.relocated[("kprobe/p", 0)] == "f1" and obj.relocated[("kprobe/p", 1)] == ".text"
    # the bad call makes the program undecided, nothing crashes
    r = reach(obj, {})
    assert not r.complete and r.executes(("kprobe/p", 6)) is None
    assert "no function starts" in r.reasons[0]


def test_call_relocated_against_a_program_section_is_refused() -> None:
    prog = insn(CALL_LOCAL, src=1, imm=-1) + EXIT
    data = _object({".text": EXIT, "kprobe/p": prog},
                   [("f", ".text", 0, 8, False), ("p", "kprobe/p", 0, 16, True)],
                   {"kprobe/p": [(0, "p")]})
    site = object_from_bytes(data, "o").sites[("kprobe/p", 0)]
    assert site.target is None and "not a function of .text" in site.error


# -- what is refused -----------------------------------------------------------------------------

def _error(data: bytes, name: str = "evil.o") -> str:
    with pytest.raises(ObjectError) as e:
        object_from_bytes(data, name)
    msg = str(e.value)
    assert isinstance(e.value, BtfError)
    assert msg.startswith(f"{name}: ") and "\n" not in msg and len(msg) < 400, msg
    assert all(c.isprintable() for c in msg), msg
    return msg


def test_refuses_what_is_not_a_bpf_object(tmp_path) -> None:
    good = _object({"kprobe/p": EXIT}, [("p", "kprobe/p", 0, 8, True)])
    assert "not an ELF file" in _error(b"hello, world")
    assert "machine 62" in _error(_object({"kprobe/p": EXIT}, [], machine=62))
    assert "64-bit" in _error(good[:4] + b"\x01" + good[5:])
    assert "truncated ELF header" in _error(good[:40])
    assert "no .BTF section" in _error(elf_object({"kprobe/p": EXIT}, ("kprobe/p",)))
    assert "bad BTF" in _error(elf_object({"kprobe/p": EXIT, ".BTF": b"\x9f\xeb\x01\0junk"},
                                          ("kprobe/p",)))
    with pytest.raises(ObjectError, match="no such file"):
        read_object(tmp_path / "missing.o")
    with pytest.raises(ObjectError, match="directory"):
        read_object(tmp_path)


def test_refuses_truncated_objects() -> None:
    good = _object({"kprobe/p": EXIT * 4}, [("p", "kprobe/p", 0, 32, True)])
    assert object_from_bytes(good, "o").functions
    for cut in (64, 100, len(good) // 2, len(good) - 1):
        _error(good[:cut])


def test_refuses_inconsistent_tables() -> None:
    msg = _error(_object({"kprobe/p": EXIT + b"\0\0\0\0"}, []))
    assert "not a whole number of instructions" in msg
    msg = _error(_object({"kprobe/p": EXIT}, [("p", "kprobe/p", 0, 64, True)]))
    assert "crosses the end" in msg
    msg = _error(_object({"kprobe/p": EXIT}, [("p", "kprobe/p", 4, 8, True)]))
    assert "not instruction-aligned" in msg
    msg = _error(_object({"kprobe/p": EXIT}, [("p", "kprobe/p", 0, 8, True)],
                         {"kprobe/p": [(4, "p")]}))
    assert "not an instruction" in msg
    msg = _error(_object({"kprobe/p": EXIT}, [("p", "kprobe/p", 0, 8, True)],
                         {"kprobe/p": [(64, "p")]}))
    assert "not an instruction" in msg


def test_refuses_huge_section_counts() -> None:
    good = bytearray(_object({"kprobe/p": EXIT}, [("p", "kprobe/p", 0, 8, True)]))
    good[60:62] = (60000).to_bytes(2, "little")  # e_shnum
    t = time.perf_counter()
    msg = _error(bytes(good))
    assert f"more than {MAX_SECTIONS}" in msg or "truncated" in msg
    assert time.perf_counter() - t < 1


def test_names_from_the_file_are_escaped_and_short() -> None:
    name = "kprobe/\x1b[31mred\nline" + "x" * 500
    msg = _error(_object({name: EXIT + b"\0"}, []))
    assert "\x1b" not in msg and "xxxx" * 30 not in msg


def test_hostile_mutations_give_an_object_or_one_error(objects) -> None:
    """Bytes of a real object changed at random: reading and judging either works or raises
    ObjectError, never anything else, each in bounded time."""
    data = objects["calls.bpf.c"].read_bytes()
    kernel = load(SAMPLE_DIR / "6.1-amd64.btf.xz")
    rng = random.Random(7)
    outcomes = {"object": 0, "error": 0}
    for _ in range(150):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(mutated))
            mutated[at] = rng.randrange(256)
        t = time.perf_counter()
        try:
            obj = object_from_bytes(bytes(mutated), "mutated.o")
        except ObjectError as e:
            assert "\n" not in str(e)
            outcomes["error"] += 1
        else:
            judge_object(obj, kernel)
            outcomes["object"] += 1
        assert time.perf_counter() - t < 2
    assert outcomes["object"] and outcomes["error"], outcomes
