"""The server's configuration, merged from its sources.

Precedence, per setting: ``initializationOptions`` > ``workspace/configuration`` (section
``bpfls``) > ``bpfls.toml`` (found from the workspace root upwards) > the defaults of
``bpfls check`` (the bundled sample kernels of the target architecture, primary the newest,
plus the running kernel as ``host``). The settings and their meanings are those of
``bpfls.toml``: ``kernels`` (name → path or ``{path, base}``, or a list of ``{name, path,
base?}``), ``primary``, ``include``, ``defines``, ``severity``, ``compile`` (``auto``, the
editor's default when unset: when a clang with the BPF target is on ``PATH``; ``always``;
``never``), plus ``trace`` (``off``, ``messages`` or ``verbose``: how much the server logs to
the client).

Pure Python: nothing here knows about the protocol.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from bpfls.project.config import (
    Config,
    ConfigError,
    default_kernels,
    find_config,
    parse_config,
    target_arch,
)

SECTION = "bpfls"
KEYS = ("kernels", "primary", "include", "defines", "severity", "compile", "trace")
TRACE_LEVELS = ("off", "messages", "verbose")


@dataclass(frozen=True)
class Settings:
    config: Config
    trace: str = "off"
    #: problems to show the user (one line each); the sources they came from were skipped
    errors: tuple[str, ...] = ()
    #: settings that were not understood (reported as warnings in the log)
    warnings: tuple[str, ...] = ()
    #: where each setting came from (``kernels`` → ``initializationOptions``...)
    origin: dict[str, str] = field(default_factory=dict)


def unwrap(data: object) -> dict | None:
    """The ``bpfls`` settings in what a client sent: the settings themselves, or an object
    with a ``bpfls`` key (``{"bpfls": {...}}``), or ``None``."""
    if not isinstance(data, dict):
        return None
    inner = data.get(SECTION)
    if isinstance(inner, dict) and not (set(data) & set(KEYS)):
        return inner
    return data


def _parse_source(data: dict, where: str, root: Path, errors: list[str],
                  warnings: list[str]) -> tuple[Config, set[str], str | None]:
    """One source's Config, the keys it set, and its trace level."""
    present = {k for k in data if k in KEYS and data[k] is not None}
    for k in sorted(set(data) - set(KEYS)):
        if k != SECTION:
            warnings.append(f"{where}: unknown setting {k!r} (known: {', '.join(KEYS)})")
    trace = data.get("trace")
    if trace is not None and trace not in TRACE_LEVELS:
        errors.append(f"{where}: 'trace' must be one of {', '.join(TRACE_LEVELS)}")
        trace = None
    try:
        cfg = parse_config({k: data[k] for k in present if k != "trace"}, where, root)
    except ConfigError as e:
        errors.append(str(e))
        return Config(), set(), trace
    return cfg, present, trace


def merge_settings(init_options: object, workspace: object, root: str | Path | None,
                   toml: str | Path | None = None) -> Settings:
    """Merge the sources (see the module doc). ``root``: the workspace folder (relative paths
    in editor settings are relative to it); ``toml``: an explicit bpfls.toml (else found from
    ``root`` upwards). Problems never raise: they are returned to be shown, and the source
    that has them is left out."""
    errors: list[str] = []
    warnings: list[str] = []
    root_path = Path(root) if root else Path.cwd()
    sources: list[tuple[str, Config, set[str], str | None]] = []
    for where, raw in (("initializationOptions", init_options),
                       ("workspace/configuration", workspace)):
        data = unwrap(raw)
        if data:
            sources.append((where, *_parse_source(data, where, root_path, errors, warnings)))
    toml_path = Path(toml) if toml else (find_config(root_path) if root else None)
    if toml_path is not None:
        where = str(toml_path)
        try:
            with open(toml_path, "rb") as f:
                data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            errors.append(f"{where}: invalid TOML: {e}")
        except OSError as e:
            errors.append(f"{where}: cannot read: {e.strerror or e}")
        else:
            sources.append((where, *_parse_source(data, where, toml_path.parent, errors,
                                                  warnings)))

    merged = Config()
    origin: dict[str, str] = {}
    trace = "off"
    for key in KEYS:
        for where, cfg, present, src_trace in sources:
            if key not in present:
                continue
            origin[key] = where
            if key == "trace":
                trace = src_trace or trace
            elif key == "kernels":
                merged = replace(merged, kernels=cfg.kernels)
            else:
                merged = replace(merged, **{key: getattr(cfg, key)})
            break
    if "kernels" in origin and origin["kernels"].endswith(".toml"):
        merged = replace(merged, source=origin["kernels"])
    elif toml_path is not None and origin:
        merged = replace(merged, source=str(toml_path))

    names = {k.name for k in merged.kernels}
    if not merged.kernels:
        specs, default_primary = default_kernels(target_arch(merged.defines))
        merged = replace(merged, kernels=specs)
        origin["kernels"] = "defaults"
        if merged.primary is None or merged.primary not in {k.name for k in specs}:
            if merged.primary is not None:
                errors.append(f"primary {merged.primary!r} is not a configured kernel "
                              f"({', '.join(k.name for k in specs)}); using "
                              f"{default_primary!r}")
            merged = replace(merged, primary=default_primary, primary_default=True)
    elif merged.primary is not None and merged.primary not in names:
        errors.append(f"primary {merged.primary!r} ({origin.get('primary')}) is not a "
                      f"configured kernel ({', '.join(sorted(names))})")
        merged = replace(merged, primary=None)
    return Settings(merged, trace, tuple(errors), tuple(warnings), origin)
