/**
 * Entry point: wires the log, status bar, server manager and commands together, and reacts to
 * settings changes. The work lives in the modules named after what they do.
 */
import * as vscode from 'vscode';
import { Commands } from './commands';
import { offerInstall } from './installer';
import { ProposalReview } from './proposalReview';
import { ResultPanel } from './resultPanel';
import { ServerManager } from './server';
import { clientSettings, inlineEnabled } from './settings';
import { StatusModel } from './status';
import { StatusBar } from './statusBar';

let manager: ServerManager | undefined;

/** What `activate` returns: used by the end-to-end tests and other extensions. */
export interface GemmaApi {
    status: StatusModel;
    server: ServerManager;
}

export function activate(context: vscode.ExtensionContext): GemmaApi {
    const log = vscode.window.createOutputChannel('Gemma', { log: true });
    const status = new StatusModel();
    const panel = new ResultPanel();
    const review = new ProposalReview(log);
    const server: ServerManager = new ServerManager({
        context,
        log,
        status,
        runServerCommand: (command, args): Promise<unknown> => commands.runServerCommand(command, args),
        onMissing: async () => {
            const spec = clientSettings(vscode.workspace.getConfiguration('gemma')).settings.installSpec;
            if (await offerInstall(context, log, spec)) await server.restart(true);
        },
    });
    manager = server;
    const commands: Commands = new Commands(server, panel, review, status, log);

    const updateInline = (): void => {
        const languageId = vscode.window.activeTextEditor?.document.languageId;
        status.setInlineEnabled(!languageId || inlineEnabled(vscode.workspace.getConfiguration('gemma', { languageId })));
    };
    updateInline();

    context.subscriptions.push(
        log,
        panel,
        review,
        ...review.register(),
        server,
        new StatusBar(status),
        ...commands.register(),
        vscode.window.onDidChangeActiveTextEditor(updateInline),
        vscode.workspace.onDidChangeConfiguration((e) => {
            if (!e.affectsConfiguration('gemma')) return;
            updateInline();
            if (e.affectsConfiguration('gemma.server')) {
                log.info('gemma.server.* changed: restarting the server.');
                void server.restart(true);
            } else {
                void server.sendSettings();
            }
        }),
    );

    log.info(`Gemma extension ${String((context.extension.packageJSON as { version?: string }).version)} activated.`);
    void server.start();
    return { status, server };
}

export async function deactivate(): Promise<void> {
    await manager?.stop();
    manager = undefined;
}
