// The bundle VS Code loads (dist/extension.js) activated against a stand-in `vscode` module:
// it loads, registers the contributed commands, and when no server can be started it says how
// to install one, offers the settings, and the status bar says so.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import Module from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

const EXT_DIR = path.join(__dirname, '..', '..');
const BUNDLE = path.join(EXT_DIR, 'dist', 'extension.js');
const pkg = JSON.parse(readFileSync(path.join(EXT_DIR, 'package.json'), 'utf8'));

interface Recorded {
  commands: string[];
  errors: { message: string; items: string[] }[];
  executed: unknown[][];
  status: Record<string, unknown>;
}

function fakeVscode(settings: Record<string, unknown>, rec: Recorded): unknown {
  const disposable = { dispose() {} };
  class EventEmitter {
    event = () => disposable;
    fire() {}
    dispose() {}
  }
  class Anything {
    constructor(...args: unknown[]) {
      Object.assign(this, { args });
    }
  }
  const folder = { uri: { fsPath: os.tmpdir(), scheme: 'file', toString: () => `file://${os.tmpdir()}` }, name: 'ws', index: 0 };
  const api: Record<string, unknown> = {
    EventEmitter,
    MarkdownString: class { constructor(public value: string) {} supportThemeIcons = false; },
    ThemeColor: class { constructor(public id: string) {} },
    StatusBarAlignment: { Left: 1, Right: 2 },
    Disposable: class { static from() { return disposable; } dispose() {} },
    window: {
      createOutputChannel: () => ({ appendLine() {}, append() {}, show() {}, dispose() {} }),
      createStatusBarItem: () => {
        rec.status = { show() {}, dispose() {} };
        return rec.status;
      },
      showErrorMessage: (message: string, ...items: string[]) => {
        rec.errors.push({ message, items });
        return Promise.resolve('Open Settings');
      },
      showInformationMessage: () => Promise.resolve(undefined),
      showWarningMessage: () => Promise.resolve(undefined),
    },
    workspace: {
      workspaceFolders: [folder],
      getWorkspaceFolder: () => folder,
      getConfiguration: () => ({ get: (key: string) => settings[key] }),
      onDidChangeConfiguration: () => disposable,
      registerTextDocumentContentProvider: () => disposable,
    },
    commands: {
      registerCommand: (id: string) => {
        rec.commands.push(id);
        return disposable;
      },
      executeCommand: (...args: unknown[]) => {
        rec.executed.push(args);
        return Promise.resolve(undefined);
      },
    },
    extensions: { getExtension: () => undefined },
  };
  // anything else vscode-languageclient touches while loading: classes it extends, enums
  return new Proxy(api, {
    get: (target, prop) => (prop in target ? target[prop as string] : typeof prop === 'string' && /^[A-Z]/.test(prop) ? Anything : undefined),
  });
}

async function activateWith(settings: Record<string, unknown>): Promise<Recorded> {
  const rec: Recorded = { commands: [], errors: [], executed: [], status: {} };
  const vscode = fakeVscode(settings, rec);
  const M = Module as unknown as { _load: (req: string, parent: unknown, isMain: boolean) => unknown };
  const load = M._load;
  M._load = (req, parent, isMain) => (req === 'vscode' ? vscode : load(req, parent, isMain));
  try {
    delete require.cache[BUNDLE];
    const ext = require(BUNDLE) as { activate: (ctx: unknown) => Promise<void>; deactivate: () => Promise<void> };
    await ext.activate({ subscriptions: [] });
    await new Promise((r) => setTimeout(r, 10)); // the notification's button
    await ext.deactivate();
  } finally {
    M._load = load;
  }
  return rec;
}

const built = existsSync(BUNDLE) ? undefined : 'dist/extension.js is not built (npm run build)';

test('activation registers the contributed commands', { skip: built }, async () => {
  const rec = await activateWith({ 'server.path': '/nonexistent/bpfls' });
  const contributed = pkg.contributes.commands.map((c: { command: string }) => c.command).sort();
  assert.deepEqual([...rec.commands].sort(), contributed);
  assert.deepEqual(pkg.activationEvents, ['onLanguage:c']);
  assert.equal(pkg.main, './dist/extension.js');
});

test('a server.path that does not work: a notification naming it, with the settings button', { skip: built }, async () => {
  const rec = await activateWith({ 'server.path': '/nonexistent/bpfls' });
  assert.equal(rec.errors.length, 1);
  assert.match(rec.errors[0].message, /bpfls\.server\.path: \/nonexistent\/bpfls is not an executable/);
  assert.match(rec.errors[0].message, /pip install bpfls/);
  assert.deepEqual(rec.errors[0].items, ['Open Settings', 'Show Output']);
  assert.deepEqual(rec.executed, [['workbench.action.openSettings', 'bpfls.server.path']]);
  assert.equal(rec.status.text, '$(warning) bpfls: no server');
});

test('no server anywhere: how to install it', { skip: built }, async () => {
  const oldPath = process.env.PATH;
  process.env.PATH = path.join(os.tmpdir(), 'bpfls-no-such-dir');
  try {
    const rec = await activateWith({});
    assert.equal(rec.errors.length, 1);
    assert.match(rec.errors[0].message, /language server was not found/);
    assert.match(rec.errors[0].message, /pip install bpfls/);
    assert.deepEqual(rec.executed, [['workbench.action.openSettings', 'bpfls.server']]);
  } finally {
    process.env.PATH = oldPath;
  }
});
