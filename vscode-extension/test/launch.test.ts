import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

import { Probes, describeLaunch, resolveLaunch } from '../src/launch';
import { hasServer, isExecutable, which } from '../src/probes';

function probes(over: Partial<Probes> = {}, calls: string[] = []): Probes {
  return {
    which: async (c) => { calls.push(`which ${c}`); return undefined; },
    isExecutable: async (f) => { calls.push(`exec ${f}`); return false; },
    hasServer: async (p) => { calls.push(`has ${p.join(' ')}`); return false; },
    pythonExtensionInterpreter: async () => { calls.push('pyext'); return undefined; },
    ...over,
  };
}

test('server.path comes first', async () => {
  const r = await resolveLaunch({ path: '/opt/bpfls', python: '/usr/bin/python3' },
    probes({ isExecutable: async (f) => f === '/opt/bpfls' }));
  assert.deepEqual(r, { ok: true, launch: { command: '/opt/bpfls', args: ['serve'], source: 'server.path' } });
});

test('a bare server.path is looked up on PATH', async () => {
  const r = await resolveLaunch({ path: 'bpfls-dev' },
    probes({ which: async (c) => (c === 'bpfls-dev' ? '/usr/local/bin/bpfls-dev' : undefined), isExecutable: async () => true }));
  assert.ok(r.ok);
  assert.equal(r.launch.command, '/usr/local/bin/bpfls-dev');
});

test('a broken server.path is reported, without falling back', async () => {
  const calls: string[] = [];
  const r = await resolveLaunch({ path: '/nope/bpfls' }, probes({}, calls));
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.failure.setting === 'bpfls.server.path');
  assert.ok(!r.ok && r.failure.message.includes('/nope/bpfls'));
  assert.ok(!r.ok && r.failure.message.includes('pip install bpfls'));
  assert.deepEqual(calls, ['exec /nope/bpfls']);
});

test('server.python runs the module', async () => {
  const r = await resolveLaunch({ python: '/venv/bin/python' },
    probes({ hasServer: async (p) => p[0] === '/venv/bin/python' }));
  assert.deepEqual(r, {
    ok: true,
    launch: { command: '/venv/bin/python', args: ['-m', 'bpfls', 'serve'], source: 'server.python' },
  });
});

test('a server.python without bpfls is reported', async () => {
  const r = await resolveLaunch({ python: 'python3' }, probes());
  assert.ok(!r.ok && r.failure.setting === 'bpfls.server.python');
  assert.ok(!r.ok && r.failure.message.includes('python3'));
});

test('then bpfls on PATH', async () => {
  const calls: string[] = [];
  const r = await resolveLaunch({}, probes({
    which: async (c) => (c === 'bpfls' ? '/usr/bin/bpfls' : undefined),
  }, calls));
  assert.deepEqual(r, { ok: true, launch: { command: '/usr/bin/bpfls', args: ['serve'], source: 'PATH' } });
  assert.ok(!calls.includes('pyext'));
});

test('then the Python extension interpreter when it has bpfls', async () => {
  const r = await resolveLaunch({}, probes({
    pythonExtensionInterpreter: async () => ['conda', 'run', '-n', 'bpf', 'python'],
    hasServer: async (p) => p[0] === 'conda',
  }));
  assert.deepEqual(r, {
    ok: true,
    launch: { command: 'conda', args: ['run', '-n', 'bpf', 'python', '-m', 'bpfls', 'serve'], source: 'python-extension' },
  });
});

test('nothing found: how to install, no setting at fault', async () => {
  const r = await resolveLaunch({}, probes({ pythonExtensionInterpreter: async () => ['/usr/bin/python3'] }));
  assert.ok(!r.ok);
  assert.equal(r.failure.setting, undefined);
  assert.match(r.failure.message, /not found/);
  assert.match(r.failure.message, /pip install bpfls/);
  assert.match(r.failure.message, /bpfls\.server\.path/);
});

test('describeLaunch quotes what needs it', () => {
  assert.equal(describeLaunch({ command: '/a b/python', args: ['-m', 'bpfls', 'serve'], source: 'server.python' }),
    '"/a b/python" -m bpfls serve (from server.python)');
});

test('which and isExecutable on real files', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfls-which-'));
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  const exe = path.join(bin, 'bpfls');
  writeFileSync(exe, '#!/bin/sh\nexit 0\n');
  const plain = path.join(bin, 'plain');
  writeFileSync(plain, 'x');
  if (process.platform !== 'win32') {
    chmodSync(exe, 0o755);
    chmodSync(plain, 0o644);
    assert.equal(await isExecutable(plain), false);
    assert.equal(await which('plain', { PATH: bin }), undefined);
  }
  assert.equal(await isExecutable(exe), true);
  assert.equal(await isExecutable(bin), false);
  assert.equal(await isExecutable(path.join(dir, 'missing')), false);
  assert.equal(await which('bpfls', { PATH: ['/nonexistent', bin].join(path.delimiter) }), exe);
  assert.equal(await which('bpfls', { PATH: '' }), undefined);
});

test('hasServer is false for what cannot run it', async () => {
  assert.equal(await hasServer([]), false);
  assert.equal(await hasServer([path.join(os.tmpdir(), 'no-such-python')]), false);
  if (process.platform !== 'win32') {
    assert.equal(await hasServer(['false']), false);
    assert.equal(await hasServer(['true']), true);
  }
});
