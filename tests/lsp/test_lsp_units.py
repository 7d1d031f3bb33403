"""The server's pure parts: position encodings, incremental edits, settings precedence."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bpfls.analysis.diagnostics import diagnostic
from bpfls.analysis.report import COMPILED
from bpfls.lsp.convert import DiagnosticConverter
from bpfls.lsp.documents import UTF8, UTF16, UTF32, Document, Snapshot, split_lines
from bpfls.lsp.settings import merge_settings
from bpfls.source.positions import Position, Range

LINE = "a é € 𝄞 b"  # 1, 2, 3 and 4 UTF-8 bytes; 𝄞 is two UTF-16 units


def _units(s: str, enc: str) -> int:
    return {UTF8: len(s.encode("utf-8")), UTF16: len(s.encode("utf-16-le")) // 2,
            UTF32: len(s)}[enc]


@pytest.mark.parametrize("enc", [UTF8, UTF16, UTF32])
def test_every_character_boundary_round_trips(enc):
    snap = Snapshot(f"x\n{LINE}\n", 1, enc)
    for i in range(len(LINE) + 1):
        client = _units(LINE[:i], enc)
        pos = snap.to_engine(1, client)
        assert pos == Position(1, len(LINE[:i].encode("utf-8")))
        assert snap.to_client(pos) == (1, client)


def test_inside_a_character_rounds_down_and_past_the_end_clamps():
    snap = Snapshot(f"{LINE}\nend", 1, UTF16)
    i = LINE.index("𝄞")
    assert snap.to_engine(0, _units(LINE[:i], UTF16) + 1) == \
        Position(0, len(LINE[:i].encode()))  # between the two surrogates
    assert snap.to_engine(0, 999) == Position(0, len(LINE.encode()))
    assert snap.to_engine(99, 5) == Position(1, 3)
    assert snap.to_engine(-1, -1) == Position(0, 0)
    utf8 = Snapshot(LINE, 1, UTF8)
    assert utf8.to_client(Position(0, len(LINE[:i].encode()) + 2)) == \
        (0, len(LINE[:i].encode()))  # a byte inside 𝄞
    assert utf8.to_client(Position(7, 0)) == (0, len(LINE.encode()))
    (s, e) = snap.range_to_client(Range.of(0, 5, 0, 2))
    assert s <= e


def test_lines_end_as_the_protocol_says():
    assert split_lines("a\r\nb\rc\nd\x0ce\u2028f") == ["a", "b", "c", "d\x0ce\u2028f"]
    doc = Document("file:///x.c", "/x.c", "a\r\nb\u2028x\ny", 1, encoding=UTF16)
    doc.apply_change("Z", ((1, 2), (1, 3)), 2)  # replaces the x after U+2028 on line 1
    assert doc.text == "a\r\nb\u2028Z\ny" and doc.version == 2
    doc.apply_change("!", ((5, 0), (9, 9)), 3)  # past the end: appended
    assert doc.text == "a\r\nb\u2028Z\ny!"
    doc = Document("file:///y.c", "/y.c", "a\rX\nb", 1)
    doc.apply_change("", ((1, 0), (1, 1)), 2)  # the \r and the \n become one line end
    assert doc.text == "a\r\nb" and doc.snapshot().lines == ["a", "b"]
    doc.apply_change("c", ((1, 0), (1, 0)), 3)
    assert doc.text == "a\r\ncb"


@pytest.mark.parametrize("enc", [UTF8, UTF16, UTF32])
def test_random_incremental_edits_match_a_reference(enc):
    rng = random.Random(4)
    alphabet = "ab\n é€𝄞\r\n;{}"
    text = "int x;\n/* é */\r\nchar *𝄞 = \"€\";\n"
    doc = Document("untitled:1", None, text, 0, encoding=enc)
    for v in range(1, 400):
        lines = text.split("\n")  # reference: LSP lines of a text without lone \r
        li = rng.randrange(len(lines))
        line = lines[li].removesuffix("\r")
        a = rng.randrange(len(line) + 1)
        b = rng.randrange(a, len(line) + 1)
        new = "".join(rng.choice(alphabet) for _ in range(rng.randrange(4)))
        new = new.replace("\r\n", "\n").replace("\r", "")
        start = sum(len(x) + 1 for x in lines[:li])
        text = text[:start + a] + new + text[start + b:]
        doc.apply_change(new, ((li, _units(line[:a], enc)), (li, _units(line[:b], enc))), v)
        assert doc.text == text


def test_diagnostic_data_says_how_it_was_found():
    d = diagnostic("field-missing", "'state' is missing", "/p.bpf.c", Range.of(0, 4, 0, 9),
                   kernels=("6.12-amd64",), data={"kind": "byte_off"})
    snap = Snapshot("int state;\n", 3, UTF16)
    conv = DiagnosticConverter()
    predicted = conv.convert(d, snap, "file:///p.bpf.c")
    assert predicted.data == {"kind": "byte_off", "kernels": ["6.12-amd64"],
                              "source": "predicted"}
    compiled = conv.convert(d, snap, "file:///p.bpf.c", COMPILED)
    assert compiled.data["source"] == "compiled" and compiled.data["kind"] == "byte_off"


def test_settings_precedence(tmp_path: Path):
    (tmp_path / "bpfls.toml").write_text(
        'primary = "b"\ninclude = ["inc"]\ndefines = ["FROM_TOML"]\n'
        '[kernels]\na = "a.btf"\nb = "b.btf"\n[severity]\nconstant-check = "off"\n')
    s = merge_settings(None, None, tmp_path)
    assert [k.name for k in s.config.kernels] == ["a", "b"]
    assert s.config.kernels[0].path == str(tmp_path / "a.btf")
    assert s.config.include == (str(tmp_path / "inc"),)
    assert s.config.primary == "b" and not s.errors

    ws = {"bpfls": {"defines": ["FROM_WS"], "kernels": {"c": "c.btf"}, "primary": "c",
                    "trace": "verbose"}}
    s = merge_settings(None, ws, tmp_path)
    assert [k.name for k in s.config.kernels] == ["c"]
    assert s.config.defines == ("FROM_WS",) and s.config.include == (str(tmp_path / "inc"),)
    assert s.config.severity == {"constant-check": "off"} and s.trace == "verbose"

    init = {"kernels": [{"name": "d", "path": "/abs/d.btf"},
                        {"name": "m", "path": "m.btf", "base": "d"}],
            "primary": "d", "severity": {}}
    s = merge_settings(init, ws, tmp_path)
    assert [(k.name, k.path, k.base) for k in s.config.kernels] == \
        [("d", "/abs/d.btf", None), ("m", str(tmp_path / "m.btf"), "d")]
    assert s.config.primary == "d" and s.config.defines == ("FROM_WS",)
    assert s.config.severity == {} and s.origin["kernels"] == "initializationOptions"
    assert not s.config.primary_default


def test_default_primary_is_marked(tmp_path: Path):
    """The bundled kernels' primary is a default, which a program's vmlinux.h overrides."""
    s = merge_settings(None, None, tmp_path)
    assert s.config.primary is not None and s.config.primary_default
    s = merge_settings(None, {"bpfls": {"primary": s.config.primary}}, tmp_path)
    assert not s.config.primary_default


def test_compile_setting(tmp_path: Path):
    assert merge_settings(None, None, tmp_path).config.compile is None  # the editor's: auto
    (tmp_path / "bpfls.toml").write_text('compile = "never"\n')
    assert merge_settings(None, None, tmp_path).config.compile == "never"
    s = merge_settings(None, {"bpfls": {"compile": "always"}}, tmp_path)
    assert s.config.compile == "always" and s.origin["compile"] == "workspace/configuration"
    s = merge_settings({"compile": "sometimes"}, None, tmp_path)
    assert any("'compile' must be one of auto, always, never" in e for e in s.errors)
    assert s.config.compile == "never" and not s.warnings


def test_settings_problems_are_reported_not_raised(tmp_path: Path):
    s = merge_settings({"kernels": 5, "bogus": 1}, {"primary": "nope"}, tmp_path)
    assert any("'kernels'" in e for e in s.errors)
    assert any("bogus" in w for w in s.warnings)
    assert any("nope" in e for e in s.errors)
    assert s.config.kernels  # the defaults of bpfls check
    (tmp_path / "bpfls.toml").write_text("kernels = [")
    s = merge_settings(None, None, tmp_path)
    assert any("invalid TOML" in e for e in s.errors)


def test_defaults_follow_the_target_architecture(tmp_path: Path):
    s = merge_settings({"defines": ["__TARGET_ARCH_arm64"]}, None, tmp_path)
    assert {k.name for k in s.config.kernels if k.name != "host"} == {"6.12-arm64"}
    assert s.config.primary == "6.12-arm64"


def test_the_cli_does_not_import_the_protocol_library():
    """`bpfls check` and `bpfls btf` must not pay for lsprotocol (design.md): `serve` is
    registered without importing it."""
    import subprocess
    import sys

    code = ("import sys; from bpfls.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('lsprotocol', 'pygls', 'cattrs')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_editor_analysis_takes_the_primary_from_vmlinux_h(tmp_path: Path):
    """With the default kernels, a program including 5.10's dump is analysed with 5.10 as
    its primary, as ``bpfls check`` does."""
    from bpfls.btf.dump_c import dump_c
    from bpfls.lsp.worker import analyse
    from bpfls.project.kernels import load_kernels
    from bpfls.source.cache import SourceCache

    cfg = merge_settings(None, {"bpfls": {"defines": ["__TARGET_ARCH_x86"]}}, tmp_path).config
    kernels = load_kernels(cfg)
    k510 = kernels.get("5.10-amd64")
    assert cfg.primary_default and k510 is not None and k510.ok
    (tmp_path / "vmlinux.h").write_text(dump_c(k510.btf))
    prog = Path(__file__).resolve().parent.parent / "corpus" / "vmlinux_primary.bpf.c"
    path = str(tmp_path / "p.bpf.c")
    model, report, _ = analyse(path, prog.read_text(), kernels, cfg, {}, SourceCache())
    assert model.vmlinux_kernel == "5.10-amd64" and report.primary == "5.10-amd64"
    assert not [d for d in report.diagnostics if d.code == "unknown-member"]


def test_cancel_of_an_answered_request_is_not_logged_as_a_problem() -> None:
    """Clients cancel requests the server has already answered; pygls logs those as
    warnings on stderr, which VS Code shows as errors: the server keeps them quiet (and
    still says what really is wrong)."""
    import json
    import subprocess
    import sys

    def frame(msg: dict) -> bytes:
        body = json.dumps(msg).encode()
        return b"Content-Length: %d\r\n\r\n" % len(body) + body

    msgs = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"processId": None, "rootUri": None, "capabilities": {}}},
            {"jsonrpc": "2.0", "method": "initialized", "params": {}},
            {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 1}},
            {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 4242}},
            {"jsonrpc": "2.0", "id": 2, "method": "shutdown"},
            {"jsonrpc": "2.0", "method": "exit"}]
    out = subprocess.run([sys.executable, "-m", "bpfls", "serve"],
                         input=b"".join(map(frame, msgs)), capture_output=True, timeout=60)
    assert b'"id": 2' in out.stdout or b'"id":2' in out.stdout  # shutdown answered
    assert b"Cancel notification" not in out.stderr, out.stderr[-500:]
