import assert from 'node:assert/strict';
import { test } from 'node:test';

import { asKernelList, asRenderedText, asTypeNames, typePrefix } from '../src/protocol';
import { statusView } from '../src/status';
import { parseTypeDocPath, typeDocPath, unavailableText } from '../src/typedoc';

const kernels = [
  { name: '5.10', path: '/b/5.10.btf', primary: false, loaded: true },
  { name: '6.1', path: '/b/6.1.btf', primary: true, loaded: true },
];

test('status: kernels, primary, failures', () => {
  assert.equal(statusView({ phase: 'running', kernels }).text, '$(check) bpfls: 2 kernels (6.1)');
  assert.equal(statusView({ phase: 'running', kernels: [kernels[1]] }).text, '$(check) bpfls: 1 kernel (6.1)');
  const bad = statusView({ phase: 'running', kernels: [...kernels, { name: 'x', path: '/x', primary: false, loaded: false, error: 'no such file' }] });
  assert.equal(bad.text, '$(warning) bpfls: 3 kernels (6.1), 1 failed');
  assert.equal(bad.warning, true);
  assert.match(bad.tooltip, /\*\*x\*\*: failed: no such file/);
  assert.match(bad.tooltip, /\*\*6\.1\*\* \(primary\): loaded/);
});

test('status: progress wins while it lasts', () => {
  const v = statusView({ phase: 'running', kernels, progress: [{ title: 'Loading kernels', message: '6.1', percentage: 49.6 }] });
  assert.equal(v.text, '$(sync~spin) bpfls: Loading kernels: 6.1 50%');
  assert.equal(statusView({ phase: 'running', progress: [{}] }).text, '$(sync~spin) bpfls: working');
  assert.equal(statusView({ phase: 'running', progress: [{ title: 'bpfls: loading kernel BTF', message: '6.1 (1/3)' }] }).text,
    '$(sync~spin) bpfls: loading kernel BTF: 6.1 (1/3)');
});

test('status: starting, stopped, no server', () => {
  assert.equal(statusView({ phase: 'starting' }).text, '$(sync~spin) bpfls: starting');
  assert.equal(statusView({ phase: 'running' }).text, '$(check) bpfls');
  assert.equal(statusView({ phase: 'stopped' }).warning, true);
  const none = statusView({ phase: 'no-server', detail: 'not found', server: undefined });
  assert.equal(none.text, '$(warning) bpfls: no server');
  assert.match(none.tooltip, /not found/);
  assert.match(statusView({ phase: 'running', server: 'bpfls serve (from PATH)' }).tooltip, /`bpfls serve \(from PATH\)`/);
});

test('server answers are read defensively', () => {
  assert.deepEqual(asKernelList([{ name: 'a', path: '/a', primary: true, loaded: true, error: null }, 3, { path: 'x' }]),
    [{ name: 'a', path: '/a', primary: true, loaded: true, error: undefined }]);
  assert.deepEqual(asKernelList(null), []);
  assert.deepEqual(asTypeNames(['struct a', 1, 'typedef u32']), ['struct a', 'typedef u32']);
  assert.deepEqual(asTypeNames({}), []);
  assert.equal(asRenderedText({ text: 'struct a {};' }), 'struct a {};');
  assert.equal(asRenderedText('struct a {};'), undefined);
});

test('type picker prefix drops the kind keyword', () => {
  assert.equal(typePrefix(''), '');
  assert.equal(typePrefix('task'), 'task');
  assert.equal(typePrefix('struct task_s'), 'task_s');
  assert.equal(typePrefix('  enum   bpf_'), 'bpf_');
  assert.equal(typePrefix('struct'), 'struct');
});

test('type document addresses round-trip', () => {
  const p = typeDocPath('6.1-amd64', 'struct task_struct');
  assert.equal(p, '/6.1-amd64/struct task_struct.h');
  assert.deepEqual(parseTypeDocPath(p), { kernel: '6.1-amd64', name: 'struct task_struct' });
  const odd = typeDocPath('a/b%c', 'typedef x');
  assert.deepEqual(parseTypeDocPath(odd), { kernel: 'a/b%c', name: 'typedef x' });
  assert.equal(parseTypeDocPath('/nope'), undefined);
  assert.equal(unavailableText('5.10', 'struct x', 'no type */'), '/* struct x on 5.10: no type * / */\n');
});
