/**
 * Palette commands ("Gemma: ...") and the one path every server command takes: a cancellable
 * notification while it runs (debug steps reported in it), then its result shown (explanations and
 * debug answers in the result panel, a proposed change as a diff to review, see proposalReview.ts).
 */
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { WorkDoneProgress, WorkDoneProgressCancelNotification } from 'vscode-languageclient/node';
import {
    EditorState,
    asDebugResult,
    asExplainResult,
    asFixResult,
    contextArgs,
    debugArgs,
    debugMarkdown,
    explainSelectionArgs,
    needsInstruction,
    rejectsPreview,
    withPreview,
    withWorkDoneToken,
    withoutPreview,
} from './commandArgs';
import { ProposalReview } from './proposalReview';
import { ResultPanel } from './resultPanel';
import { ServerManager, errorText } from './server';
import { StatusModel } from './status';

const TITLES: Record<string, string> = {
    'gemma.explain': 'explaining',
    'gemma.fix': 'fixing',
    'gemma.debug': 'debugging',
    'gemma.context': 'collecting context',
    'gemma.status': 'asking for status',
};

/** The editor state commands need, from a real editor. */
export function editorState(editor: vscode.TextEditor): EditorState {
    const s = editor.selection;
    return { uri: editor.document.uri.toString(), selection: { start: s.start, end: s.end, active: s.active } };
}

export class Commands {
    constructor(
        private readonly server: ServerManager,
        private readonly panel: ResultPanel,
        private readonly review: ProposalReview,
        private readonly status: StatusModel,
        private readonly log: vscode.LogOutputChannel,
    ) {}

    /** Registers the palette commands. */
    register(): vscode.Disposable[] {
        const reg = (id: string, fn: () => unknown): vscode.Disposable => vscode.commands.registerCommand(id, fn);
        return [
            reg('gemma.askToDebug', () => this.askToDebug()),
            reg('gemma.explainSelection', () => this.explainSelection()),
            reg('gemma.showContext', () => this.showContext()),
            reg('gemma.restartServer', () => this.server.restart(true)),
            reg('gemma.showLogs', () => this.log.show()),
            reg('gemma.toggleInlineCompletions', () => this.toggleInline()),
            reg('gemma.showStatus', () => this.showStatus()),
        ];
    }

    /**
     * Runs a server command with a cancellable notification and shows its result. Code actions
     * (Explain/Fix) reach this through the client's executeCommand middleware too.
     */
    async runServerCommand(command: string, args: unknown[]): Promise<unknown> {
        const client = this.server.languageClient;
        if (!client) {
            void vscode.window.showErrorMessage('Gemma: the server is not running.', 'Restart Server', 'Show Logs').then((c) => {
                if (c === 'Restart Server') void this.server.restart(true);
                if (c === 'Show Logs') this.log.show();
            });
            return undefined;
        }
        if (needsInstruction(command, args)) {
            const instruction = await vscode.window.showInputBox({
                title: 'Gemma: Fix/refactor selection',
                prompt: 'How should Gemma change the selected code?',
                placeHolder: 'e.g. handle the empty list',
            });
            if (!instruction?.trim()) return undefined;
            // A free-form rewrite: the server only proposes it, and the user reviews the diff first.
            args = withPreview([{ ...(args[0] as object), instruction: instruction.trim() }, ...args.slice(1)]);
        }
        const verb = TITLES[command] ?? command;
        const workDoneToken = randomUUID();
        // gemma-lsp reads the token from the command's argument object (commands get no params).
        args = withWorkDoneToken(args, workDoneToken);
        let result: unknown;
        try {
            result = await vscode.window.withProgress(
                { location: vscode.ProgressLocation.Notification, title: `Gemma: ${verb}`, cancellable: true },
                async (progress, token) => {
                    // Steps the server reports on our token show in this same notification.
                    const sub = client.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
                        if (value.kind !== 'end' && value.message) progress.report({ message: value.message });
                    });
                    const cancelSub = token.onCancellationRequested(() => {
                        void client.sendNotification(WorkDoneProgressCancelNotification.type, { token: workDoneToken });
                    });
                    try {
                        try {
                            return await this.server.execute(command, args, token, workDoneToken);
                        } catch (error) {
                            // A server from before proposals rejects `preview`: run it the old way.
                            if (!rejectsPreview(errorText(error))) throw error;
                            this.log.info(`${command}: the server does not take "preview"; running it without.`);
                            args = withoutPreview(args);
                            return await this.server.execute(command, args, token, workDoneToken);
                        }
                    } finally {
                        sub.dispose();
                        cancelSub.dispose();
                    }
                },
            );
        } catch (error) {
            const text = errorText(error);
            if (/cancel/i.test(text)) {
                this.log.info(`${command} cancelled.`);
                void vscode.window.showInformationMessage(`Gemma: ${verb} cancelled.`);
            } else {
                this.log.error(`${command} failed: ${text}`);
                void vscode.window.showErrorMessage(`Gemma: ${verb} failed: ${text}`, 'Show Logs').then((c) => {
                    if (c) this.log.show();
                });
            }
            return undefined;
        }
        await this.showResult(command, result);
        return result;
    }

    private async showResult(command: string, result: unknown): Promise<void> {
        if (command === 'gemma.explain') {
            const explanation = asExplainResult(result);
            if (explanation) this.panel.show(explanation.title, explanation.markdown);
            else this.log.warn(`gemma.explain returned an unexpected result: ${JSON.stringify(result)}`);
        } else if (command === 'gemma.fix') {
            const fix = asFixResult(result);
            if (fix?.proposal) await this.review.show(fix.proposal);
            else if (fix && !fix.applied) void vscode.window.showWarningMessage(`Gemma: the fix was not applied${fix.message ? `: ${fix.message}` : '.'}`);
        } else if (command === 'gemma.debug') {
            const answer = asDebugResult(result);
            if (!answer) {
                this.log.warn(`gemma.debug returned an unexpected result: ${JSON.stringify(result)}`);
                return;
            }
            this.panel.show('Gemma: Debug answer', debugMarkdown(answer));
            // The diff opens in the editor's column, the answer stays beside it.
            if (answer.proposal) await this.review.show(answer.proposal);
        }
    }

    private activeEditor(): vscode.TextEditor | undefined {
        const editor = vscode.window.activeTextEditor;
        if (!editor) void vscode.window.showWarningMessage('Gemma: open a file first.');
        return editor;
    }

    async askToDebug(): Promise<unknown> {
        const editor = this.activeEditor();
        if (!editor) return undefined;
        const question = await vscode.window.showInputBox({
            title: 'Gemma: Ask to Debug',
            prompt: 'What should Gemma look into? (optional; Enter to let it run the tests and look)',
            placeHolder: 'e.g. why does test_parse fail?',
        });
        if (question === undefined) return undefined; // Escape
        return this.runServerCommand('gemma.debug', debugArgs(editorState(editor), question));
    }

    async explainSelection(): Promise<unknown> {
        const editor = this.activeEditor();
        if (!editor) return undefined;
        const args = explainSelectionArgs(editorState(editor), (line) => editor.document.lineAt(line).text.length);
        return this.runServerCommand('gemma.explain', args);
    }

    async showContext(): Promise<void> {
        const editor = this.activeEditor();
        if (!editor) return;
        const result = await this.runServerCommand('gemma.context', contextArgs(editorState(editor)));
        if (result === undefined) return;
        const content = typeof result === 'string' ? result : JSON.stringify(result, null, 2);
        const doc = await vscode.workspace.openTextDocument({ language: 'json', content });
        await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
    }

    /** Flips `gemma.inline.enabled` for the active editor's language (user settings, language override). */
    async toggleInline(): Promise<void> {
        const languageId = vscode.window.activeTextEditor?.document.languageId;
        if (!languageId) {
            void vscode.window.showWarningMessage('Gemma: open a file to toggle inline completions for its language.');
            return;
        }
        const config = vscode.workspace.getConfiguration('gemma', { languageId });
        const enabled = config.get<boolean>('inline.enabled') !== false;
        await config.update('inline.enabled', !enabled, vscode.ConfigurationTarget.Global, true);
        this.status.setInlineEnabled(!enabled);
        void vscode.window.showInformationMessage(`Gemma: inline completions ${enabled ? 'off' : 'on'} for ${languageId}.`);
    }

    /** The status bar's click: state, message and what to do next. */
    async showStatus(): Promise<void> {
        const cmd = this.server.serverCommand;
        const items: (vscode.QuickPickItem & { run: () => unknown })[] = [
            { label: '$(output) Show Logs', run: () => this.log.show() },
            { label: '$(debug-restart) Restart Server', run: () => this.server.restart(true) },
            { label: '$(eye) Toggle Inline Completions for This Language', run: () => this.toggleInline() },
            { label: '$(gear) Open Settings', run: () => vscode.commands.executeCommand('workbench.action.openSettings', 'gemma') },
        ];
        const model = this.status.model ? ` (${this.status.model})` : '';
        const pick = await vscode.window.showQuickPick(items, {
            title: `Gemma${model}: ${this.status.state}${this.status.message ? ` — ${this.status.message}` : ''}`,
            placeHolder: cmd ? `Server: ${[cmd.command, ...cmd.args].join(' ')}` : 'No server found',
        });
        await pick?.run();
    }
}
