// Every setting the extension contributes is understood by the server: the settings of
// package.json, filled in, go through the client's conversion and then the server's own
// bpfls.project.config.parse_config, and the severity codes match bpfls.analysis.diagnostics.CODES.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { CLIENT_KEYS, COMPILE_MODES, SERVER_KEYS, SEVERITY_LEVELS, toServerSettings } from '../src/settings';
import { runPython } from './helpers';

interface Schema {
  type?: string | string[];
  enum?: string[];
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  default?: unknown;
}

const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
const props: Record<string, Schema> = pkg.contributes.configuration.properties;

const PARSE = `
import json, sys
from pathlib import Path
from bpfls.project.config import COMPILE_MODES, SEVERITIES, parse_config
from bpfls.analysis.diagnostics import CODES
data = json.load(sys.stdin)
cfg = parse_config(data, "settings", Path("/ws"))
print(json.dumps({
    "kernels": [[k.name, k.path, k.base] for k in cfg.kernels],
    "primary": cfg.primary, "include": list(cfg.include), "defines": list(cfg.defines),
    "severity": cfg.severity, "codes": sorted(CODES), "levels": list(SEVERITIES),
    "compile": cfg.compile, "modes": list(COMPILE_MODES),
}))
`;

/** The "bpfls" section the way VS Code would give it, every setting set. */
function fullSection(codes: string[]): Record<string, unknown> {
  const section: Record<string, unknown> = {};
  const set = (key: string, value: unknown) => {
    const parts = key.split('.');
    let obj = section;
    for (const p of parts.slice(0, -1)) {
      obj = (obj[p] ??= {}) as Record<string, unknown>;
    }
    obj[parts[parts.length - 1]] = value;
  };
  const examples: Record<string, unknown> = {
    kernels: [{ name: '6.1', path: '/btf/6.1.btf' }, { name: 'mod', path: 'btf/mod.btf', base: '6.1' }],
    primary: '6.1',
    include: ['include'],
    defines: ['__TARGET_ARCH_x86', 'DEBUG=1'],
    severity: Object.fromEntries(codes.map((c, i) => [c, SEVERITY_LEVELS[i % SEVERITY_LEVELS.length]])),
    compile: 'always',
    'trace.server': 'verbose',
    'server.path': '/usr/bin/bpfls',
    'server.python': 'python3',
  };
  for (const key of Object.keys(props)) {
    const short = key.replace(/^bpfls\./, '');
    assert.ok(short in examples, `no example value for ${key}: add one to this test`);
    set(short, examples[short]);
  }
  return section;
}

test('every contributed setting is a server setting or a launch setting', () => {
  for (const key of Object.keys(props)) {
    assert.ok(key.startsWith('bpfls.'), key);
    const short = key.slice('bpfls.'.length);
    const top = short.split('.')[0];
    assert.ok((SERVER_KEYS as readonly string[]).includes(top) || (CLIENT_KEYS as readonly string[]).includes(short),
      `${key} is neither read by the server nor by the client`);
  }
  for (const top of SERVER_KEYS) {
    assert.ok(Object.keys(props).some((k) => k === `bpfls.${top}` || k.startsWith(`bpfls.${top}.`)),
      `the server's ${top} has no setting`);
  }
});

test('the server parses the settings the client sends', () => {
  const codes = runPython('import json; from bpfls.analysis.diagnostics import CODES; print(json.dumps(sorted(CODES)))') as string[];
  const sent = toServerSettings(fullSection(codes), { folder: '/ws' });
  assert.deepEqual(Object.keys(sent).sort(), [...SERVER_KEYS].sort(), 'every server key is sent');
  const parsed = runPython(PARSE, JSON.stringify(sent)) as {
    kernels: [string, string, string | null][]; primary: string; include: string[]; defines: string[];
    severity: Record<string, string>; codes: string[]; levels: string[]; compile: string; modes: string[];
  };
  assert.deepEqual(parsed.kernels, [['6.1', '/btf/6.1.btf', null], ['mod', '/ws/btf/mod.btf', '6.1']]);
  assert.equal(parsed.primary, '6.1');
  assert.deepEqual(parsed.include, ['/ws/include']);
  assert.deepEqual(parsed.defines, ['__TARGET_ARCH_x86', 'DEBUG=1']);
  assert.equal(Object.keys(parsed.severity).length, codes.length);
  assert.deepEqual([...SEVERITY_LEVELS], parsed.levels, 'severity levels match bpfls.project.config.SEVERITIES');
  assert.equal(parsed.compile, 'always');
  assert.deepEqual([...COMPILE_MODES], parsed.modes, 'compile modes match bpfls.project.config.COMPILE_MODES');
});

test("the language server's merge of its sources takes them without a complaint", (t) => {
  const have = runPython('import importlib.util, json; '
    + 'print(json.dumps(importlib.util.find_spec("bpfls.lsp.settings") is not None))') as boolean;
  if (!have) {
    t.skip('bpfls.lsp.settings is not there yet (parse_config alone is checked above)');
    return;
  }
  const codes = runPython('import json; from bpfls.analysis.diagnostics import CODES; print(json.dumps(sorted(CODES)))') as string[];
  const enumTrace = props['bpfls.trace.server'].enum ?? [];
  for (const trace of enumTrace) {
    const section = fullSection(codes);
    (section.trace as Record<string, unknown>).server = trace;
    const sent = toServerSettings(section, { folder: '/ws' });
    const merged = runPython(`
import json, sys
from bpfls.lsp.settings import merge_settings
s = merge_settings(None, json.load(sys.stdin), "/ws")
print(json.dumps({"errors": list(s.errors), "warnings": list(s.warnings), "trace": s.trace,
                  "origin": s.origin, "kernels": [k.name for k in s.config.kernels]}))
`, JSON.stringify(sent)) as { errors: string[]; warnings: string[]; trace: string; origin: Record<string, string>; kernels: string[] };
    assert.deepEqual(merged.errors, [], `trace ${trace}`);
    assert.deepEqual(merged.warnings, [], `trace ${trace}`);
    assert.equal(merged.trace, trace);
    assert.deepEqual(merged.kernels, ['6.1', 'mod']);
    for (const key of SERVER_KEYS) {
      assert.equal(merged.origin[key], 'workspace/configuration', key);
    }
  }
});

test('the settings schema matches the server', () => {
  const { codes, levels } = runPython(
    'import json; from bpfls.project.config import SEVERITIES; from bpfls.analysis.diagnostics import CODES; '
    + 'print(json.dumps({"codes": sorted(CODES), "levels": list(SEVERITIES)}))') as { codes: string[]; levels: string[] };
  const severity = props['bpfls.severity'];
  const listed = Object.keys(severity.properties ?? {}).sort();
  const missing = codes.filter((c) => !listed.includes(c));
  const unknown = listed.filter((c) => !codes.includes(c));
  assert.deepEqual(missing, [], `add these codes to bpfls.severity in package.json: ${missing.join(', ')}`);
  assert.deepEqual(unknown, [], `bpfls.severity lists codes the server does not have: ${unknown.join(', ')}`);
  for (const [code, s] of Object.entries(severity.properties ?? {})) {
    assert.deepEqual(s.enum, levels, `bpfls.severity.${code}`);
  }
  const kernel = props['bpfls.kernels'].items!;
  assert.deepEqual(Object.keys(kernel.properties ?? {}).sort(), ['base', 'name', 'path']);
  assert.deepEqual(kernel.required?.sort(), ['name', 'path']);
  assert.equal(kernel.additionalProperties, false);
  assert.deepEqual(props['bpfls.trace.server'].enum, ['off', 'messages', 'verbose']);
  assert.deepEqual(props['bpfls.compile'].enum, [...COMPILE_MODES]);
  assert.equal(props['bpfls.compile'].default, 'auto');
});

test('the server rejects what the schema forbids, so nothing is lost silently', () => {
  const check = (data: unknown) => runPython(`
import json, sys
from pathlib import Path
from bpfls.project.config import ConfigError, parse_config
try:
    parse_config(json.load(sys.stdin), "settings", Path("/ws"))
    print(json.dumps(None))
except ConfigError as e:
    print(json.dumps(str(e)))
`, JSON.stringify(data)) as string | null;
  assert.match(check({ kernels: [{ name: 'a', path: '/a', extra: 1 }] }) ?? '', /unknown key/);
  assert.match(check({ kernels: [{ name: 'a' }] }) ?? '', /name and a path/);
  assert.match(check({ severity: { 'field-missing': 'fatal' } }) ?? '', /must be one of/);
  assert.match(check({ server: { path: '/x' } }) ?? '', /unknown setting 'server'/);
  assert.equal(check(toServerSettings({ server: { path: '/x' }, trace: { server: 'off' } })), null);
});
