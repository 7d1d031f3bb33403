// The VS Code side of bpfls: starts `bpfls serve`, hands it the "bpfls" settings, shows the
// kernels in the status bar and offers "show kernel type" / "compare type across kernels".
// The logic that does not need VS Code lives in settings.ts, launch.ts, probes.ts, status.ts,
// typedoc.ts and protocol.ts (unit-tested under plain Node).

import * as vscode from 'vscode';
import {
  ConfigurationParams,
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
  WorkDoneProgressBegin,
  WorkDoneProgressEnd,
  WorkDoneProgressReport,
} from 'vscode-languageclient/node';

import { Launch, describeLaunch, resolveLaunch } from './launch';
import { hasServer, isExecutable, which } from './probes';
import {
  KernelInfo,
  ListTypesArgs,
  RenderTypeArgs,
  SERVER_COMMANDS,
  asKernelList,
  asRenderedText,
  asTypeNames,
  typePrefix,
} from './protocol';
import { RESTART_SECTIONS, Scope, launchSettings, toServerSettings } from './settings';
import { Phase, ProgressState, statusView } from './status';
import { TYPE_SCHEME, parseTypeDocPath, typeDocPath, unavailableText } from './typedoc';

const SECTION = 'bpfls';
const DOCUMENT_SELECTOR = [
  { scheme: 'file', language: 'c' },
  { scheme: 'untitled', language: 'c' },
];
/** names asked for at a time while the user types in the type picker */
const TYPE_PAGE = 500;

let ext: BpflsExtension | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  ext = new BpflsExtension(context);
  await ext.start();
}

export async function deactivate(): Promise<void> {
  await ext?.stop();
  ext = undefined;
}

/** The "bpfls" section as a plain object (what workspace/configuration would answer). */
function rawSection(resource?: vscode.Uri): Record<string, unknown> {
  const cfg = vscode.workspace.getConfiguration(SECTION, resource ?? null);
  return {
    kernels: cfg.get('kernels'),
    primary: cfg.get('primary'),
    include: cfg.get('include'),
    defines: cfg.get('defines'),
    severity: cfg.get('severity'),
    trace: { server: cfg.get('trace.server') },
    server: { path: cfg.get('server.path'), python: cfg.get('server.python') },
  };
}

function scopeOf(uri?: vscode.Uri): Scope {
  const folder = (uri !== undefined ? vscode.workspace.getWorkspaceFolder(uri) : undefined)
    ?? vscode.workspace.workspaceFolders?.[0];
  return folder !== undefined && folder.uri.scheme === 'file' ? { folder: folder.uri.fsPath } : {};
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    return e.message;
  }
  return String(e);
}

/** The interpreter the Python extension selected for `resource`, as a command line. */
async function pythonExtensionInterpreter(resource?: vscode.Uri): Promise<string[] | undefined> {
  const python = vscode.extensions.getExtension('ms-python.python');
  if (python === undefined) {
    return undefined;
  }
  try {
    if (!python.isActive) {
      await python.activate();
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const api: any = python.exports;
    if (api?.environments?.getActiveEnvironmentPath !== undefined) {
      const envPath = api.environments.getActiveEnvironmentPath(resource);
      const env = await api.environments.resolveEnvironment(envPath);
      const exe: unknown = env?.executable?.uri?.fsPath;
      if (typeof exe === 'string' && exe !== '') {
        return [exe];
      }
    }
    const details = await api?.settings?.getExecutionDetails?.(resource);
    const cmd: unknown = details?.execCommand;
    if (Array.isArray(cmd) && cmd.length > 0 && cmd.every((c) => typeof c === 'string')) {
      return cmd as string[];
    }
  } catch {
    // the Python extension is optional
  }
  return undefined;
}

class BpflsExtension implements vscode.TextDocumentContentProvider {
  private client: LanguageClient | undefined;
  private launch: Launch | undefined;
  private readonly output: vscode.OutputChannel;
  private readonly status: vscode.StatusBarItem;
  private phase: Phase = 'starting';
  private detail: string | undefined;
  private kernels: KernelInfo[] | undefined;
  private readonly progress = new Map<string | number, ProgressState>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private restartPrompted = false;
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  constructor(context: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel('bpfls');
    this.status = vscode.window.createStatusBarItem('bpfls.status', vscode.StatusBarAlignment.Right, 100);
    this.status.name = 'bpfls';
    this.status.command = 'bpfls.showKernelType';
    context.subscriptions.push(
      this.output,
      this.status,
      this.changed,
      vscode.workspace.registerTextDocumentContentProvider(TYPE_SCHEME, this),
      vscode.commands.registerCommand('bpfls.restartServer', () => this.restart()),
      vscode.commands.registerCommand('bpfls.showKernelType', () => this.showKernelType()),
      vscode.commands.registerCommand('bpfls.compareType', () => this.compareType()),
      vscode.workspace.onDidChangeConfiguration((e) => this.onConfigurationChanged(e)),
    );
    this.render();
  }

  // ---- the server ----

  async start(): Promise<void> {
    this.setPhase('starting');
    const scope = scopeOf();
    const settings = launchSettings(rawSection(), scope);
    const resolved = await resolveLaunch(settings, {
      which: (cmd) => which(cmd),
      isExecutable,
      hasServer: (python) => hasServer(python, { cwd: scope.folder }),
      pythonExtensionInterpreter: () => pythonExtensionInterpreter(),
    });
    if (!resolved.ok) {
      this.launch = undefined;
      this.output.appendLine(resolved.failure.message);
      this.setPhase('no-server', resolved.failure.message);
      void vscode.window
        .showErrorMessage(resolved.failure.message, 'Open Settings', 'Show Output')
        .then((choice) => {
          if (choice === 'Open Settings') {
            void vscode.commands.executeCommand('workbench.action.openSettings',
              resolved.failure.setting ?? 'bpfls.server');
          } else if (choice === 'Show Output') {
            this.output.show();
          }
        });
      return;
    }
    this.launch = resolved.launch;
    this.output.appendLine(`Starting ${describeLaunch(resolved.launch)}`);
    const serverOptions: ServerOptions = {
      command: resolved.launch.command,
      args: resolved.launch.args,
      transport: TransportKind.stdio,
      options: { cwd: scope.folder, env: process.env },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: DOCUMENT_SELECTOR,
      outputChannel: this.output,
      traceOutputChannel: this.output,
      synchronize: { configurationSection: SECTION },
      middleware: {
        workspace: {
          // synchronize.configurationSection pushes the raw section; send the converted one
          didChangeConfiguration: async () => {
            await client.sendNotification(DidChangeConfigurationNotification.type, {
              settings: { [SECTION]: toServerSettings(rawSection(), scopeOf()) },
            });
          },
          configuration: async (params: ConfigurationParams, token, next) => {
            const result = await next(params, token);
            if (!Array.isArray(result)) {
              return result;
            }
            return result.map((value, i) => {
              const item = params.items[i];
              if (item?.section !== SECTION) {
                return value;
              }
              const uri = item.scopeUri !== undefined ? vscode.Uri.parse(item.scopeUri) : undefined;
              return toServerSettings(value, scopeOf(uri));
            });
          },
        },
        handleWorkDoneProgress: (token, params, next) => {
          this.onProgress(token, params);
          next(token, params);
        },
      },
    };
    const client = new LanguageClient('bpfls', 'bpfls', serverOptions, clientOptions);
    this.client = client;
    client.onDidChangeState((e) => {
      if (client !== this.client) {
        return;
      }
      if (e.newState === State.Stopped) {
        this.progress.clear();
        this.setPhase('stopped', 'The server stopped; run "bpfls: Restart Server".');
      } else if (e.newState === State.Running) {
        this.setPhase('running');
      }
    });
    try {
      await client.start();
    } catch (e) {
      this.output.appendLine(`The server did not start: ${errorText(e)}`);
      this.setPhase('stopped', `The server did not start: ${errorText(e)}`);
      void vscode.window.showErrorMessage(`bpfls: the server did not start (${errorText(e)}).`, 'Show Output')
        .then((choice) => choice && this.output.show());
      return;
    }
    this.setPhase('running');
    await this.refreshKernels();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.progress.clear();
    if (client !== undefined) {
      try {
        await client.stop(5000);
      } catch (e) {
        this.output.appendLine(`Stopping the server: ${errorText(e)}`);
      }
      try {
        await client.dispose();
      } catch {
        // already gone
      }
    }
  }

  async restart(): Promise<void> {
    this.restartPrompted = false;
    await this.stop();
    this.kernels = undefined;
    await this.start();
  }

  private onConfigurationChanged(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration(SECTION)) {
      return;
    }
    if (RESTART_SECTIONS.some((s) => e.affectsConfiguration(s))) {
      if (this.client === undefined) {
        void this.restart(); // nothing was running: just try again
        return;
      }
      if (!this.restartPrompted) {
        this.restartPrompted = true;
        void vscode.window
          .showInformationMessage('bpfls: the server setting changed. Restart the server to use it?', 'Restart')
          .then((choice) => {
            this.restartPrompted = false;
            if (choice === 'Restart') {
              void this.restart();
            }
          });
      }
      return;
    }
    // the client tells the server (didChangeConfiguration), which pulls the new settings
    this.scheduleRefresh(1500);
  }

  private running(): LanguageClient | undefined {
    return this.client !== undefined && this.client.state === State.Running ? this.client : undefined;
  }

  private async executeServerCommand(command: string, args: unknown[]): Promise<unknown> {
    const client = this.running();
    if (client === undefined) {
      throw new Error('the bpfls server is not running');
    }
    return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  }

  private listKernels(): Promise<KernelInfo[]> {
    return this.executeServerCommand(SERVER_COMMANDS.listKernels, []).then(asKernelList);
  }

  private listTypes(args: ListTypesArgs): Promise<string[]> {
    return this.executeServerCommand(SERVER_COMMANDS.listTypes, [args]).then(asTypeNames);
  }

  private async renderType(args: RenderTypeArgs): Promise<string> {
    const text = asRenderedText(await this.executeServerCommand(SERVER_COMMANDS.renderType, [args]));
    if (text === undefined) {
      throw new Error('the server returned no text');
    }
    return text;
  }

  // ---- status bar ----

  private onProgress(
    token: string | number,
    params: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd,
  ): void {
    if (params.kind === 'begin') {
      this.progress.set(token, { title: params.title, message: params.message, percentage: params.percentage });
    } else if (params.kind === 'report') {
      const p = this.progress.get(token) ?? {};
      this.progress.set(token, {
        title: p.title,
        message: params.message ?? p.message,
        percentage: params.percentage ?? p.percentage,
      });
    } else {
      this.progress.delete(token);
      this.scheduleRefresh(100);
    }
    this.render();
  }

  private scheduleRefresh(ms: number): void {
    if (this.refreshTimer !== undefined) {
      clearTimeout(this.refreshTimer);
    }
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refreshKernels();
    }, ms);
  }

  private async refreshKernels(): Promise<void> {
    if (this.running() === undefined) {
      return;
    }
    try {
      this.kernels = await this.listKernels();
      this.detail = undefined;
    } catch (e) {
      this.kernels = undefined;
      this.detail = `Could not list the kernels: ${errorText(e)}`;
    }
    this.render();
  }

  private setPhase(phase: Phase, detail?: string): void {
    this.phase = phase;
    this.detail = detail;
    this.render();
  }

  private render(): void {
    const view = statusView({
      phase: this.phase,
      kernels: this.kernels,
      progress: [...this.progress.values()],
      detail: this.detail,
      server: this.launch !== undefined ? describeLaunch(this.launch) : undefined,
    });
    this.status.text = view.text;
    const tooltip = new vscode.MarkdownString(view.tooltip);
    tooltip.supportThemeIcons = true;
    this.status.tooltip = tooltip;
    this.status.backgroundColor = view.warning
      ? new vscode.ThemeColor('statusBarItem.warningBackground')
      : undefined;
    this.status.command = this.phase === 'no-server'
      ? { title: 'Open Settings', command: 'workbench.action.openSettings', arguments: ['bpfls.server'] }
      : this.phase === 'stopped' ? 'bpfls.restartServer' : 'bpfls.showKernelType';
    this.status.show();
  }

  // ---- kernel types ----

  /** The read-only document of `bpfls-type:/<kernel>/<name>.h`. */
  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const what = parseTypeDocPath(uri.path);
    if (what === undefined) {
      return unavailableText('?', uri.path, 'not a kernel type address');
    }
    try {
      const text = await this.renderType(what);
      return text.endsWith('\n') ? text : text + '\n';
    } catch (e) {
      return unavailableText(what.kernel, what.name, errorText(e));
    }
  }

  private typeUri(kernel: string, name: string): vscode.Uri {
    return vscode.Uri.from({ scheme: TYPE_SCHEME, path: typeDocPath(kernel, name) });
  }

  private async pickKernel(placeHolder: string, exclude?: string): Promise<string | undefined> {
    let kernels: KernelInfo[];
    try {
      kernels = await this.listKernels();
    } catch (e) {
      void vscode.window.showErrorMessage(`bpfls: ${errorText(e)}`);
      return undefined;
    }
    this.kernels = kernels;
    this.render();
    const items = kernels
      .filter((k) => k.name !== exclude)
      .map((k) => ({
        label: k.name,
        description: [k.primary ? 'primary' : '', k.error ? 'failed' : k.loaded ? '' : 'not loaded yet']
          .filter((s) => s !== '').join(', '),
        detail: k.error ? `${k.path}: ${k.error}` : k.path,
        primary: k.primary,
      }))
      .sort((a, b) => Number(b.primary) - Number(a.primary));
    if (items.length === 0) {
      void vscode.window.showWarningMessage('bpfls: no kernels are configured (bpfls.kernels or bpfls.toml).');
      return undefined;
    }
    if (items.length === 1 && exclude === undefined) {
      return items[0].label;
    }
    const picked = await vscode.window.showQuickPick(items, { placeHolder, matchOnDetail: true });
    return picked?.label;
  }

  /** A quick pick of the kernel's types, asking the server as the user types. */
  private pickType(kernel: string, placeHolder: string): Promise<string | undefined> {
    return new Promise((resolve) => {
      const qp = vscode.window.createQuickPick();
      qp.placeholder = placeHolder;
      qp.matchOnDescription = false;
      let asked = 0;
      let timer: NodeJS.Timeout | undefined;
      const ask = (typed: string) => {
        const mine = ++asked;
        qp.busy = true;
        this.listTypes({ kernel, prefix: typePrefix(typed), limit: TYPE_PAGE }).then(
          (names) => {
            if (mine !== asked) {
              return;
            }
            qp.items = names.map((label) => ({ label }));
            qp.busy = false;
          },
          (e) => {
            if (mine !== asked) {
              return;
            }
            qp.busy = false;
            qp.items = [];
            void vscode.window.showErrorMessage(`bpfls: ${errorText(e)}`);
          },
        );
      };
      let done = false;
      const finish = (value: string | undefined) => {
        if (!done) {
          done = true;
          resolve(value);
          qp.hide();
        }
      };
      qp.onDidChangeValue((value) => {
        if (timer !== undefined) {
          clearTimeout(timer);
        }
        timer = setTimeout(() => ask(value), 150);
      });
      qp.onDidAccept(() => {
        const picked = qp.selectedItems[0]?.label ?? qp.value.trim();
        finish(picked !== '' ? picked : undefined);
      });
      qp.onDidHide(() => {
        if (timer !== undefined) {
          clearTimeout(timer);
        }
        finish(undefined);
        qp.dispose();
      });
      qp.show();
      ask('');
    });
  }

  private async showKernelType(): Promise<void> {
    if (this.running() === undefined) {
      void vscode.window.showErrorMessage('bpfls: the server is not running.', 'Restart Server')
        .then((c) => c && this.restart());
      return;
    }
    const kernel = await this.pickKernel('Kernel to show the type from');
    if (kernel === undefined) {
      return;
    }
    const name = await this.pickType(kernel, `Type on ${kernel} (e.g. struct task_struct)`);
    if (name === undefined) {
      return;
    }
    const uri = this.typeUri(kernel, name);
    this.changed.fire(uri); // render again if it was already open
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.languages.setTextDocumentLanguage(doc, 'c');
    await vscode.window.showTextDocument(doc, { preview: true });
  }

  private async compareType(): Promise<void> {
    if (this.running() === undefined) {
      void vscode.window.showErrorMessage('bpfls: the server is not running.', 'Restart Server')
        .then((c) => c && this.restart());
      return;
    }
    let kernels: KernelInfo[];
    try {
      kernels = await this.listKernels();
    } catch (e) {
      void vscode.window.showErrorMessage(`bpfls: ${errorText(e)}`);
      return;
    }
    if (kernels.length < 2) {
      void vscode.window.showWarningMessage('bpfls: comparing needs at least two configured kernels.');
      return;
    }
    const primary = kernels.find((k) => k.primary)?.name ?? kernels[0].name;
    const name = await this.pickType(primary, `Type to compare (names from ${primary})`);
    if (name === undefined) {
      return;
    }
    const left = await this.pickKernel(`First kernel for ${name}`);
    if (left === undefined) {
      return;
    }
    const right = await this.pickKernel(`Second kernel for ${name} (compared with ${left})`, left);
    if (right === undefined) {
      return;
    }
    const a = this.typeUri(left, name);
    const b = this.typeUri(right, name);
    for (const uri of [a, b]) {
      this.changed.fire(uri);
      await vscode.languages.setTextDocumentLanguage(await vscode.workspace.openTextDocument(uri), 'c');
    }
    await vscode.commands.executeCommand('vscode.diff', a, b, `${name}: ${left} ↔ ${right}`, { preview: true });
  }
}
