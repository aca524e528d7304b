/**
 * The gemma-lsp server's lifecycle: find it, start it over stdio, restart it after a crash with
 * back-off (then stop and say so), restart it when `gemma.server.*` changes, and send the other
 * `gemma.*` settings to it when they change.
 */
import * as vscode from 'vscode';
import {
    CloseAction,
    CloseHandlerResult,
    DidChangeConfigurationNotification,
    ErrorAction,
    ErrorHandlerResult,
    ExecuteCommandRequest,
    LanguageClient,
    LanguageClientOptions,
    RevealOutputChannelOn,
    ServerOptions,
    State,
    TransportKind,
} from 'vscode-languageclient/node';
import { RestartPolicy } from './backoff';
import { ServerCommand, discoverServer } from './discovery';
import { InlineStats, inlineMiddleware, newStats } from './inline';
import { NotificationProgressFeature } from './progress';
import { systemProbes } from './python';
import { pipeStderr, pipeStdout } from './serverOutput';
import { clientSettings, inlineEnabled, initializationOptions, serverSettings } from './settings';
import { STATUS_NOTIFICATION, StatusModel, isGemmaStatus } from './status';

/** Server commands whose results the extension shows itself (see commands.ts). */
export type ResultHandler = (command: string, result: unknown) => Promise<void>;

export interface ServerManagerOptions {
    context: vscode.ExtensionContext;
    log: vscode.LogOutputChannel;
    status: StatusModel;
    /** Runs a server command with a cancellable notification, and shows its result. */
    runServerCommand: (command: string, args: unknown[]) => Promise<unknown>;
    /** Called when no server was found (offers to install one). */
    onMissing: () => Promise<void>;
}

export class ServerManager implements vscode.Disposable {
    private client: LanguageClient | undefined;
    private command: ServerCommand | undefined;
    private readonly policy = new RestartPolicy();
    private restartTimer: NodeJS.Timeout | undefined;
    /** Set while the extension stops the server on purpose, so that exit is not a crash. */
    private stopping = false;
    private running = false;
    private starting: Promise<void> | undefined;
    readonly inlineStats: InlineStats = newStats();

    constructor(private readonly options: ServerManagerOptions) {}

    /** The running client, or undefined. */
    get languageClient(): LanguageClient | undefined {
        return this.running ? this.client : undefined;
    }

    /** How the current server was started (for the status details). */
    get serverCommand(): ServerCommand | undefined {
        return this.command;
    }

    /** Starts the server unless it is starting or running. */
    start(): Promise<void> {
        this.starting ??= this.doStart().finally(() => (this.starting = undefined));
        return this.starting;
    }

    /** Stops the server (if any) and starts it again; `manual` forgets earlier crashes. */
    async restart(manual: boolean): Promise<void> {
        if (manual) this.policy.reset();
        await this.starting?.catch(() => undefined);
        await this.stop();
        await this.start();
    }

    /** Stops the server; it stays stopped until `start`/`restart`. */
    async stop(): Promise<void> {
        clearTimeout(this.restartTimer);
        this.restartTimer = undefined;
        const client = this.client;
        this.client = undefined;
        this.running = false;
        if (!client) return;
        this.stopping = true;
        try {
            if (client.state !== State.Stopped) await client.stop(5000);
        } catch (error) {
            this.options.log.warn(`Stopping the server: ${String(error)}`);
        } finally {
            this.stopping = false;
            await Promise.resolve(client.dispose()).catch(() => undefined);
        }
    }

    /** Sends the current server settings (`workspace/didChangeConfiguration`). */
    async sendSettings(): Promise<void> {
        const config = vscode.workspace.getConfiguration('gemma');
        const { settings, problems } = serverSettings(config);
        this.reportProblems(problems);
        if (!this.languageClient) return;
        await this.languageClient.sendNotification(DidChangeConfigurationNotification.type, { settings: { gemma: settings } });
        this.options.log.info(`Sent settings to the server: ${JSON.stringify(settings)}`);
    }

    dispose(): void {
        void this.stop();
    }

    private reportProblems(problems: { key: string; message: string }[]): void {
        if (problems.length === 0) return;
        const text = problems.map((p) => `${p.key}: ${p.message}`).join('; ');
        this.options.log.warn(`Invalid settings: ${text}`);
        void vscode.window.showWarningMessage(`Gemma: invalid settings: ${text}`, 'Open Settings').then((choice) => {
            if (choice) void vscode.commands.executeCommand('workbench.action.openSettings', 'gemma');
        });
    }

    private async doStart(): Promise<void> {
        const { log, status } = this.options;
        const config = vscode.workspace.getConfiguration('gemma');
        const { settings: client, problems } = clientSettings(config);
        this.reportProblems(problems);
        status.clientState('starting');
        const command = await discoverServer(client, systemProbes(this.options.context, client.serverEnv));
        if (!command) {
            log.warn('No gemma-lsp server found (setting, PATH, Python extension, private environment).');
            status.clientState('missing', 'Set gemma.server.command, install gemma-lsp, or let the extension install it.');
            // Not awaited: the offer waits for the user, and a settings change must be able to restart meanwhile.
            void this.options.onMissing();
            return;
        }
        this.command = command;
        log.info(`Starting the server (${command.source}): ${[command.command, ...command.args].join(' ')}`);
        const languageClient = this.createClient(command, client.serverEnv);
        this.client = languageClient;
        try {
            await languageClient.start();
            this.running = true;
            log.info('The server is running.');
            if (status.state === 'starting') status.clientState('starting', 'Waiting for the server to report its state.');
        } catch (error) {
            this.client = undefined;
            this.running = false;
            const message = `Could not start gemma-lsp (${[command.command, ...command.args].join(' ')}): ${errorText(error)}`;
            log.error(message);
            status.clientState('stopped', message);
            await Promise.resolve(languageClient.dispose()).catch(() => undefined);
            void vscode.window.showErrorMessage(`Gemma: ${message}`, 'Show Logs', 'Open Settings').then((choice) => {
                if (choice === 'Show Logs') log.show();
                if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'gemma.server');
            });
        }
    }

    private createClient(command: ServerCommand, env: Record<string, string>): LanguageClient {
        const { log, status } = this.options;
        const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
        const serverOptions: ServerOptions = {
            command: command.command,
            args: command.args,
            transport: TransportKind.stdio,
            options: { cwd, env: { ...process.env, ...env } },
        };
        const inline = inlineMiddleware(
            {
                debounceMs: () => clientSettings(vscode.workspace.getConfiguration('gemma')).settings.inlineDebounceMs,
                enabledFor: (languageId) => inlineEnabled(vscode.workspace.getConfiguration('gemma', { languageId })),
                // Explicit requests only (a user action, so no flood): says what cycling can go through.
                onInvoked: (items) => log.info(`Inline suggestions asked for explicitly (or cycling): the server returned ${items}.`),
            },
            this.inlineStats,
        );
        const clientOptions: LanguageClientOptions = {
            documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
            outputChannel: log,
            revealOutputChannelOn: RevealOutputChannelOn.Never,
            stdioOptions: { stdout: pipeStdout, stderr: pipeStderr },
            initializationOptions: initializationOptions(vscode.workspace.getConfiguration('gemma')),
            errorHandler: {
                error: (_error, _message, count): ErrorHandlerResult =>
                    ({ action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown }),
                closed: (): CloseHandlerResult => this.onClosed(),
            },
            middleware: {
                provideInlineCompletionItems: (document, position, context, token, next) =>
                    inline(document, position, context, token, next),
                // Server commands run from code actions (Explain/Fix) come through here: run them
                // with a cancellable notification and show their results.
                executeCommand: (command, args) => this.options.runServerCommand(command, args),
            },
        };
        const languageClient = new LanguageClient('gemma', 'Gemma', serverOptions, clientOptions);
        languageClient.registerFeature(new NotificationProgressFeature(languageClient, (title, value) => {
            if (/load/i.test(title) && value.kind !== 'end') status.loadingProgress(value.percentage, value.message);
        }));
        languageClient.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
            if (isGemmaStatus(params)) status.serverStatus(params);
            else log.warn(`Ignored a malformed ${STATUS_NOTIFICATION} notification: ${JSON.stringify(params)}`);
        });
        return languageClient;
    }

    /** The connection closed: a crash unless we were stopping it. */
    private onClosed(): CloseHandlerResult {
        const { log, status } = this.options;
        if (this.stopping || !this.running) return { action: CloseAction.DoNotRestart, handled: true };
        this.running = false;
        const delay = this.policy.onCrash(Date.now());
        if (delay === undefined) {
            const message = `gemma-lsp crashed ${this.policy.recentCrashes} times in a few minutes and will not be restarted.`;
            log.error(message);
            status.clientState('crashed', message);
            void vscode.window.showErrorMessage(`Gemma: ${message}`, 'Show Logs', 'Restart Server').then((choice) => {
                if (choice === 'Show Logs') log.show();
                if (choice === 'Restart Server') void this.restart(true);
            });
            return { action: CloseAction.DoNotRestart, handled: true };
        }
        log.warn(`gemma-lsp exited unexpectedly; restarting in ${delay / 1000} s (crash ${this.policy.recentCrashes}).`);
        status.clientState('starting', `Restarting after a crash (in ${delay / 1000} s).`);
        clearTimeout(this.restartTimer);
        this.restartTimer = setTimeout(() => {
            this.restartTimer = undefined;
            void this.stop().then(() => this.start());
        }, delay);
        return { action: CloseAction.DoNotRestart, handled: true };
    }

    /** Runs `workspace/executeCommand` on the server. */
    async execute(command: string, args: unknown[], token?: vscode.CancellationToken, workDoneToken?: string): Promise<unknown> {
        const client = this.languageClient;
        if (!client) throw new Error('the gemma-lsp server is not running');
        return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args, workDoneToken }, token);
    }
}

export function errorText(error: unknown): string {
    if (error instanceof Error) return error.message;
    if (typeof error === 'object' && error !== null && 'message' in error) return String(error.message);
    return String(error);
}
