// The real Python server (`python -m bpfls serve`) driven through vscode-languageserver-protocol
// the way the extension's client drives it: VS Code's capabilities, settings answered through
// workspace/configuration (converted by src/settings.ts, as the client's middleware does),
// diagnostics pushed or pulled, hover, completion and the server commands behind "show kernel
// type" and "compare type across kernels".
//
// Skipped, saying so, only while this checkout's bpfls has no `serve` command.

import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

import {
  ClientCapabilities,
  CompletionItem,
  CompletionList,
  CompletionRequest,
  ConfigurationRequest,
  Diagnostic,
  DiagnosticRefreshRequest,
  DidChangeConfigurationNotification,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  DocumentDiagnosticRequest,
  ExecuteCommandRequest,
  ExitNotification,
  HoverRequest,
  InitializeRequest,
  InitializeResult,
  InitializedNotification,
  LogMessageNotification,
  ProtocolConnection,
  PublishDiagnosticsNotification,
  RegistrationRequest,
  ShowMessageNotification,
  ShowMessageRequest,
  ShutdownRequest,
  TextDocumentSyncKind,
  UnregistrationRequest,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
  createProtocolConnection,
} from 'vscode-languageserver-protocol/node';
import { StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver-protocol/node';

import { SERVER_COMMANDS, asKernelList, asRenderedText, asTypeNames } from '../src/protocol';
import { toServerSettings } from '../src/settings';
import { python, pythonEnv, repoRoot } from './helpers';

const ROOT = repoRoot();
const EXAMPLE = path.join(ROOT, 'examples', 'task_state.bpf.c');
const OLD = '5.10-amd64'; // task_struct.state
const NEW = '6.1-amd64'; // task_struct.__state (since 5.14)
const TIMEOUT = 180_000;

function serverMissing(): string | undefined {
  const r = spawnSync(python(), ['-m', 'bpfls', 'serve', '--help'], {
    cwd: ROOT, env: pythonEnv(), encoding: 'utf8', timeout: 60_000,
  });
  if (r.error !== undefined || r.status !== 0) {
    const why = r.error?.message ?? (r.stderr.trim().split('\n').pop() || `exit ${r.status}`);
    return `\`${python()} -m bpfls serve --help\` fails (${why}): the language server is not there yet`;
  }
  return undefined;
}

/** Roughly what vscode-languageclient 9 in VS Code announces. */
const CAPABILITIES: ClientCapabilities = {
  general: {
    positionEncodings: ['utf-16'],
    markdown: { parser: 'marked', version: '1.1.0' },
    regularExpressions: { engine: 'ECMAScript', version: 'ES2020' },
    staleRequestSupport: {
      cancel: true,
      retryOnContentModified: ['textDocument/semanticTokens/full', 'textDocument/semanticTokens/range'],
    },
  },
  workspace: {
    applyEdit: true,
    workspaceEdit: { documentChanges: true, resourceOperations: ['create', 'rename', 'delete'] },
    didChangeConfiguration: { dynamicRegistration: true },
    didChangeWatchedFiles: { dynamicRegistration: true, relativePatternSupport: true },
    executeCommand: { dynamicRegistration: true },
    configuration: true,
    workspaceFolders: true,
    diagnostics: { refreshSupport: true },
    inlayHint: { refreshSupport: true },
    semanticTokens: { refreshSupport: true },
    codeLens: { refreshSupport: true },
  },
  textDocument: {
    publishDiagnostics: {
      relatedInformation: true, versionSupport: false, tagSupport: { valueSet: [1, 2] },
      codeDescriptionSupport: true, dataSupport: true,
    },
    synchronization: { dynamicRegistration: true, willSave: true, willSaveWaitUntil: true, didSave: true },
    completion: {
      dynamicRegistration: true,
      contextSupport: true,
      completionItem: {
        snippetSupport: true, commitCharactersSupport: true, documentationFormat: ['markdown', 'plaintext'],
        deprecatedSupport: true, preselectSupport: true, tagSupport: { valueSet: [1] }, insertReplaceSupport: true,
        resolveSupport: { properties: ['documentation', 'detail', 'additionalTextEdits'] },
        insertTextModeSupport: { valueSet: [1, 2] }, labelDetailsSupport: true,
      },
      insertTextMode: 2,
      completionItemKind: { valueSet: Array.from({ length: 25 }, (_, i) => i + 1) as never },
      completionList: { itemDefaults: ['commitCharacters', 'editRange', 'insertTextFormat', 'insertTextMode', 'data'] },
    },
    hover: { dynamicRegistration: true, contentFormat: ['markdown', 'plaintext'] },
    definition: { dynamicRegistration: true, linkSupport: true },
    codeAction: {
      dynamicRegistration: true, isPreferredSupport: true, disabledSupport: true, dataSupport: true,
      resolveSupport: { properties: ['edit'] },
      codeActionLiteralSupport: {
        codeActionKind: { valueSet: ['', 'quickfix', 'refactor', 'refactor.extract', 'refactor.inline', 'refactor.rewrite', 'source', 'source.organizeImports'] },
      },
      honorsChangeAnnotations: false,
    },
    diagnostic: { dynamicRegistration: true, relatedDocumentSupport: false },
  },
  window: {
    showMessage: { messageActionItem: { additionalPropertiesSupport: true } },
    showDocument: { support: true },
    workDoneProgress: true,
  },
};

/** The "bpfls" section as VS Code would hold it (including the client-only keys). */
const SECTION = {
  kernels: [
    { name: OLD, path: path.join(ROOT, 'sample-btf', `${OLD}.btf.xz`) },
    { name: NEW, path: path.join(ROOT, 'sample-btf', `${NEW}.btf.xz`) },
  ],
  primary: NEW,
  include: [],
  defines: [],
  severity: { 'constant-check': 'hint' },
  trace: { server: 'off' },
  server: { path: null, python: null },
};

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) {
      return v;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    }
    await sleep(250);
  }
}

class Session {
  readonly proc: ChildProcess;
  readonly conn: ProtocolConnection;
  stderr = '';
  readonly log: string[] = [];
  readonly pushed = new Map<string, Diagnostic[]>();
  readonly registrations = new Map<string, unknown>();
  readonly progress = new Map<string | number, string[]>();
  readonly configRequests: unknown[] = [];
  result: InitializeResult | undefined;

  constructor() {
    this.proc = spawn(python(), ['-m', 'bpfls', 'serve'], { cwd: ROOT, env: pythonEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-20000);
    });
    this.conn = createProtocolConnection(new StreamMessageReader(this.proc.stdout!), new StreamMessageWriter(this.proc.stdin!));
    const folder = { folder: ROOT };
    this.conn.onRequest(ConfigurationRequest.type, (params) => {
      this.configRequests.push(params);
      // what the extension's configuration middleware answers
      return params.items.map((item) => (item.section === 'bpfls' ? toServerSettings(SECTION, folder) : null));
    });
    this.conn.onRequest(WorkDoneProgressCreateRequest.type, (params) => {
      const seen: string[] = [];
      this.progress.set(params.token, seen);
      this.conn.onProgress(WorkDoneProgress.type, params.token, (v) => seen.push(v.kind));
      return null;
    });
    this.conn.onRequest(RegistrationRequest.type, (params) => {
      for (const r of params.registrations) {
        this.registrations.set(r.method, r.registerOptions);
      }
    });
    this.conn.onRequest(UnregistrationRequest.type, (params) => {
      for (const r of params.unregisterations) {
        this.registrations.delete(r.method);
      }
    });
    this.conn.onRequest(DiagnosticRefreshRequest.type, () => null);
    this.conn.onRequest(ShowMessageRequest.type, (p) => {
      this.log.push(`showMessageRequest: ${p.message}`);
      return null;
    });
    this.conn.onNotification(ShowMessageNotification.type, (p) => this.log.push(`showMessage: ${p.message}`));
    this.conn.onNotification(LogMessageNotification.type, (p) => this.log.push(`log: ${p.message}`));
    this.conn.onNotification(PublishDiagnosticsNotification.type, (p) => this.pushed.set(p.uri, p.diagnostics));
    this.conn.listen();
  }

  /** What to print when something fails. */
  context(): string {
    return `\n--- server messages ---\n${this.log.slice(-30).join('\n')}\n--- server stderr ---\n${this.stderr.slice(-4000)}`;
  }

  pulls(): boolean {
    return this.result?.capabilities.diagnosticProvider !== undefined
      || this.registrations.has('textDocument/diagnostic');
  }

  command(command: string, args: unknown[]): Promise<unknown> {
    return this.conn.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  }

  async close(): Promise<void> {
    const exited = new Promise<void>((r) => {
      if (this.proc.exitCode !== null) {
        r();
      } else {
        this.proc.once('exit', () => r());
      }
    });
    try {
      await Promise.race([this.conn.sendRequest(ShutdownRequest.type), sleep(10_000)]);
      await this.conn.sendNotification(ExitNotification.type);
    } catch {
      // already gone
    }
    await Promise.race([exited, sleep(5000)]);
    if (this.proc.exitCode === null) {
      this.proc.kill('SIGKILL');
    }
    this.conn.dispose();
  }
}

const missing = serverMissing();

test('the extension\'s client protocol against `python -m bpfls serve`', { skip: missing, timeout: 4 * TIMEOUT }, async (t) => {
  const s = new Session();
  const uri = pathToFileURL(EXAMPLE).href;
  const text = readFileSync(EXAMPLE, 'utf8');
  const lines = text.split('\n');
  try {
    await t.test('initialize', async () => {
      s.result = await s.conn.sendRequest(InitializeRequest.type, {
        processId: process.pid,
        clientInfo: { name: 'Visual Studio Code', version: '1.95.0' },
        locale: 'en',
        rootPath: ROOT,
        rootUri: pathToFileURL(ROOT).href,
        workspaceFolders: [{ uri: pathToFileURL(ROOT).href, name: path.basename(ROOT) }],
        capabilities: CAPABILITIES,
        trace: 'off',
      });
      await s.conn.sendNotification(InitializedNotification.type, {});
      // synchronize.configurationSection: the client pushes the section once started
      await s.conn.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { bpfls: toServerSettings(SECTION, { folder: ROOT }) },
      });
      const caps = s.result.capabilities;
      assert.equal(s.result.serverInfo?.name, 'bpfls');
      assert.ok(caps.hoverProvider, 'hover');
      assert.ok(caps.completionProvider, 'completion');
      const commands = caps.executeCommandProvider?.commands ?? [];
      for (const c of Object.values(SERVER_COMMANDS)) {
        assert.ok(commands.includes(c), `the server announces ${c} (has ${commands.join(', ')})`);
      }
    });

    await t.test('the server reads the settings through workspace/configuration', async () => {
      await waitFor('a workspace/configuration request for "bpfls"', 30_000, async () =>
        s.configRequests.some((p) => (p as { items: { section?: string }[] }).items.some((i) => i.section === 'bpfls'))
          ? true : undefined);
    });

    await t.test('diagnostics of an unguarded renamed field', async () => {
      await s.conn.sendNotification(DidOpenTextDocumentNotification.type, {
        textDocument: { uri, languageId: 'c', version: 1, text },
      });
      const line = lines.findIndex((l) => l.includes('BPF_CORE_READ((struct task_struct___o *)prev, state)'));
      assert.ok(line >= 0);
      const diag = await waitFor('a field-missing diagnostic', TIMEOUT, async () => {
        let found = (s.pushed.get(uri) ?? []).find((d) => d.code === 'field-missing');
        if (found === undefined && s.pulls()) {
          const report = await s.conn.sendRequest(DocumentDiagnosticRequest.type, { textDocument: { uri } });
          if (report.kind === 'full') {
            found = report.items.find((d) => d.code === 'field-missing');
          }
        }
        return found;
      }).catch((e: Error) => assert.fail(e.message + s.context()));
      assert.equal(diag.range.start.line, line, JSON.stringify(diag));
      assert.match(diag.message, /state/);
      assert.match(diag.message, new RegExp(NEW.replace(/\./g, '\\.')));
      assert.ok(!diag.message.includes(OLD), `${OLD} has 'state': ${diag.message}`);
      assert.equal(diag.severity, 1, 'an error');
    });

    await t.test('hover over a kernel field', async () => {
      const line = lines.findIndex((l) => l.includes('real_parent'));
      const character = lines[line].indexOf('real_parent') + 3;
      const hover = await s.conn.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line, character } });
      assert.ok(hover !== null, `no hover at ${line}:${character}` + s.context());
      const contents = hover.contents;
      const value = typeof contents === 'string' ? contents
        : Array.isArray(contents) ? contents.map((c) => (typeof c === 'string' ? c : c.value)).join('\n')
          : contents.value;
      assert.match(value, /real_parent/);
      if (typeof contents === 'object' && !Array.isArray(contents) && 'kind' in contents) {
        assert.equal(contents.kind, 'markdown');
      }
    });

    await t.test('member completion after ->', async () => {
      const after = lines.findIndex((l) => l.includes('int ppid ='));
      const added = '    int pid = next->pid;\n';
      const sync = s.result!.capabilities.textDocumentSync;
      const kind = typeof sync === 'number' ? sync : sync?.change;
      if (kind === TextDocumentSyncKind.Incremental) {
        await s.conn.sendNotification(DidChangeTextDocumentNotification.type, {
          textDocument: { uri, version: 2 },
          contentChanges: [{ range: { start: { line: after + 1, character: 0 }, end: { line: after + 1, character: 0 } }, text: added }],
        });
      } else {
        const next = [...lines.slice(0, after + 1), added.replace(/\n$/, ''), ...lines.slice(after + 1)].join('\n');
        await s.conn.sendNotification(DidChangeTextDocumentNotification.type, {
          textDocument: { uri, version: 2 }, contentChanges: [{ text: next }],
        });
      }
      const line = after + 1;
      const character = added.indexOf('->') + 2;
      const result = await s.conn.sendRequest(CompletionRequest.type, {
        textDocument: { uri }, position: { line, character }, context: { triggerKind: 2, triggerCharacter: '>' },
      });
      const items: CompletionItem[] = result === null ? [] : Array.isArray(result) ? result : (result as CompletionList).items;
      const labels = items.map((i) => i.label);
      for (const member of ['pid', 'tgid', 'real_parent']) {
        assert.ok(labels.includes(member), `completion of next-> has ${member} (got ${labels.slice(0, 20).join(', ')})` + s.context());
      }
    });

    await t.test('bpfls.listKernels', async () => {
      const kernels = await waitFor('every kernel loaded', TIMEOUT, async () => {
        const ks = asKernelList(await s.command(SERVER_COMMANDS.listKernels, []));
        return ks.length > 0 && ks.every((k) => k.loaded || k.error) ? ks : undefined;
      });
      assert.deepEqual(kernels.map((k) => k.name), [OLD, NEW]);
      assert.deepEqual(kernels.map((k) => k.primary), [false, true]);
      assert.deepEqual(kernels.map((k) => k.path), SECTION.kernels.map((k) => k.path));
      assert.deepEqual(kernels.map((k) => k.error), [undefined, undefined]);
      const raw = await s.command(SERVER_COMMANDS.listKernels, []) as Record<string, unknown>[];
      for (const k of raw) {
        assert.equal(typeof k.name, 'string');
        assert.equal(typeof k.path, 'string');
        assert.equal(typeof k.primary, 'boolean');
        assert.equal(typeof k.loaded, 'boolean');
        assert.ok(k.error === undefined || k.error === null || typeof k.error === 'string');
      }
    });

    await t.test('bpfls.listTypes', async () => {
      const names = asTypeNames(await s.command(SERVER_COMMANDS.listTypes, [{ kernel: NEW, prefix: 'task_st', limit: 50 }]));
      assert.ok(names.includes('struct task_struct'), names.join(', '));
      assert.ok(names.length <= 50);
      for (const n of names) {
        assert.match(n, /^((struct|union|enum|typedef) )?task_st/, n);
      }
      const few = asTypeNames(await s.command(SERVER_COMMANDS.listTypes, [{ kernel: NEW, limit: 3 }]));
      assert.equal(few.length, 3);
      const typedefs = asTypeNames(await s.command(SERVER_COMMANDS.listTypes, [{ kernel: NEW, prefix: 'pid_t' }]));
      assert.ok(typedefs.includes('typedef pid_t'), typedefs.join(', '));
    });

    await t.test('bpfls.renderType, and the two sides of a comparison', async () => {
      const render = async (kernel: string) =>
        asRenderedText(await s.command(SERVER_COMMANDS.renderType, [{ kernel, name: 'struct task_struct' }]));
      const newer = await render(NEW);
      const older = await render(OLD);
      assert.ok(newer !== undefined && older !== undefined);
      assert.match(newer, /struct task_struct \{/);
      assert.match(newer, /\b__state;/);
      assert.doesNotMatch(older, /\b__state;/);
      assert.match(older, /\bstate;/);
      assert.notEqual(newer, older);
      const bare = asRenderedText(await s.command(SERVER_COMMANDS.renderType, [{ kernel: NEW, name: 'task_struct' }]));
      assert.equal(bare, newer);
      await assert.rejects(s.command(SERVER_COMMANDS.renderType, [{ kernel: NEW, name: 'struct no_such_type_at_all' }]));
      await assert.rejects(s.command(SERVER_COMMANDS.renderType, [{ kernel: 'no-such-kernel', name: 'struct task_struct' }]));
    });

    await t.test('every progress that began ended', async () => {
      await waitFor('the progress reports to end', 30_000, async () =>
        [...s.progress.values()].every((kinds) => kinds.length === 0 || kinds.includes('end')) ? true : undefined,
      ).catch(() => assert.fail(`open progress: ${JSON.stringify([...s.progress.entries()])}`));
    });
  } finally {
    await s.close();
  }
});
