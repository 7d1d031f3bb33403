import assert from 'node:assert/strict';
import * as os from 'node:os';
import { test } from 'node:test';

import { expandVariables, launchSettings, resolvePath, toServerSettings } from '../src/settings';

const scope = { folder: '/ws/proj', home: '/home/u', env: { BTF: '/btf' } };

test('empty settings send nothing, so bpfls.toml and the defaults apply', () => {
  const raw = {
    kernels: [], primary: null, include: [], defines: [], severity: {},
    server: { path: null, python: null },
  };
  assert.deepEqual(toServerSettings(raw, scope), {});
  assert.deepEqual(toServerSettings(undefined, scope), {});
  assert.deepEqual(toServerSettings(null), {});
});

test('client-only keys are removed, the rest keep the bpfls.toml names', () => {
  const raw = {
    kernels: [{ name: '6.1', path: '/btf/6.1.btf' }, { name: 'mod', path: 'btf/mod.btf', base: '6.1' }],
    primary: '6.1',
    include: ['include', '${workspaceFolder}/src'],
    defines: ['__TARGET_ARCH_x86', ' DEBUG=1 '],
    severity: { 'read-size-mismatch': 'error', 'constant-check': 'off' },
    trace: { server: 'verbose' },
    server: { path: '/usr/bin/bpfls', python: 'python3' },
  };
  assert.deepEqual(toServerSettings(raw, scope), {
    kernels: [{ name: '6.1', path: '/btf/6.1.btf' }, { name: 'mod', path: '/ws/proj/btf/mod.btf', base: '6.1' }],
    primary: '6.1',
    include: ['/ws/proj/include', '/ws/proj/src'],
    defines: ['__TARGET_ARCH_x86', 'DEBUG=1'],
    severity: { 'read-size-mismatch': 'error', 'constant-check': 'off' },
    trace: 'verbose',
  });
});

test('compile is sent unless auto, the default, which leaves the choice to bpfls.toml', () => {
  assert.deepEqual(toServerSettings({ compile: 'auto' }, scope), {});
  assert.deepEqual(toServerSettings({ compile: 'always' }, scope), { compile: 'always' });
  assert.deepEqual(toServerSettings({ compile: 'never' }, scope), { compile: 'never' });
});

test('kernels may be given as a table like bpfls.toml', () => {
  const raw = { kernels: { '5.10': '~/btf/5.10.btf', mod: { path: 'm.btf', base: '5.10' } } };
  assert.deepEqual(toServerSettings(raw, scope).kernels, [
    { name: '5.10', path: '/home/u/btf/5.10.btf' },
    { name: 'mod', path: '/ws/proj/m.btf', base: '5.10' },
  ]);
});

test('an empty base is dropped', () => {
  const raw = { kernels: [{ name: 'a', path: '/a', base: '' }, { name: 'b', path: '/b', base: null }] };
  assert.deepEqual(toServerSettings(raw, scope).kernels, [{ name: 'a', path: '/a' }, { name: 'b', path: '/b' }]);
});

test('values of the wrong type reach the server, which reports them', () => {
  assert.deepEqual(toServerSettings({ kernels: 'x', primary: 3 }, scope), { kernels: 'x', primary: 3 });
});

test('without a workspace folder relative paths are left to the server', () => {
  assert.deepEqual(toServerSettings({ include: ['inc'] }), { include: ['inc'] });
});

test('variables', () => {
  assert.equal(expandVariables('${workspaceFolder}/a', scope), '/ws/proj/a');
  assert.equal(expandVariables('${workspaceFolderBasename}', scope), 'proj');
  assert.equal(expandVariables('${userHome}/x', scope), '/home/u/x');
  assert.equal(expandVariables('${env:BTF}/6.1', scope), '/btf/6.1');
  assert.equal(expandVariables('${env:NOPE}x', scope), 'x');
  assert.equal(expandVariables('${unknown}', scope), '${unknown}');
  assert.equal(expandVariables('~', scope), '/home/u');
  assert.equal(expandVariables('~/b', scope), '/home/u/b');
  assert.equal(expandVariables('a~/b', scope), 'a~/b');
  assert.equal(expandVariables('${workspaceFolder}', {}), '${workspaceFolder}');
  assert.equal(expandVariables('~/k', {}), `${os.homedir()}/k`);
  assert.equal(resolvePath('/abs', scope), '/abs');
  assert.equal(resolvePath('rel/x', scope), '/ws/proj/rel/x');
});

test('launch settings', () => {
  assert.deepEqual(launchSettings({ server: { path: null, python: null } }, scope), {});
  assert.deepEqual(launchSettings({ server: { path: '  ', python: '' } }, scope), {});
  assert.deepEqual(launchSettings({ server: { path: '.venv/bin/bpfls' } }, scope), { path: '/ws/proj/.venv/bin/bpfls' });
  assert.deepEqual(launchSettings({ server: { python: 'python3' } }, scope), { python: 'python3' });
  assert.deepEqual(launchSettings({ server: { python: '${workspaceFolder}/.venv/bin/python' } }, scope),
    { python: '/ws/proj/.venv/bin/python' });
  assert.deepEqual(launchSettings({ server: { python: '~/venv/bin/python' } }, scope), { python: '/home/u/venv/bin/python' });
  assert.deepEqual(launchSettings(undefined), {});
});
