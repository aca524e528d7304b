/**
 * Server work-done progress as VS Code notifications with a working Cancel.
 *
 * The client library shows server-created progress (`window/workDoneProgress/create`) only in the
 * status bar area, where it cannot be cancelled. This feature registers after the library's own and
 * replaces the handler, so model loading and debug steps show as notifications; Cancel sends
 * `window/workDoneProgress/cancel`. Reports also reach `onReport` (the status bar uses them).
 */
import * as vscode from 'vscode';
import {
    ClientCapabilities,
    FeatureState,
    LanguageClient,
    ProgressToken,
    StaticFeature,
    WorkDoneProgress,
    WorkDoneProgressBegin,
    WorkDoneProgressCancelNotification,
    WorkDoneProgressCreateRequest,
    WorkDoneProgressReport,
} from 'vscode-languageclient/node';

export type ProgressListener = (title: string, value: WorkDoneProgressBegin | WorkDoneProgressReport | { kind: 'end' }) => void;

/** Shows one LSP progress token as a notification until `end` arrives or the user cancels. */
export function showProgress(
    client: LanguageClient,
    token: ProgressToken,
    onReport?: ProgressListener,
): vscode.Disposable {
    let finish: (() => void) | undefined;
    let progress: vscode.Progress<{ message?: string; increment?: number }> | undefined;
    let reported = 0;
    let title = '';
    let ended = false;

    const report = (value: WorkDoneProgressBegin | WorkDoneProgressReport): void => {
        const increment = value.percentage !== undefined ? Math.max(0, Math.min(100, value.percentage) - reported) : undefined;
        if (increment !== undefined) reported += increment;
        progress?.report({ message: value.message, increment });
    };

    const listener = client.onProgress(WorkDoneProgress.type, token, (value) => {
        if (value.kind === 'begin') title = value.title;
        onReport?.(title, value);
        if (value.kind === 'begin') {
            void vscode.window.withProgress(
                { location: vscode.ProgressLocation.Notification, title: value.title.startsWith('Gemma') ? value.title : `Gemma: ${value.title}`, cancellable: value.cancellable ?? false },
                (p, cancel) => {
                    progress = p;
                    report(value);
                    cancel.onCancellationRequested(() => {
                        void client.sendNotification(WorkDoneProgressCancelNotification.type, { token });
                    });
                    return new Promise<void>((resolve) => {
                        finish = resolve;
                        if (ended) resolve();
                    });
                },
            );
        } else if (value.kind === 'report') {
            report(value);
        } else {
            ended = true;
            finish?.();
            listener.dispose();
        }
    });
    return {
        dispose: () => {
            ended = true;
            finish?.();
            listener.dispose();
        },
    };
}

/** Replaces the library's progress handler for server-created tokens (see the module comment). */
export class NotificationProgressFeature implements StaticFeature {
    private readonly active = new Set<vscode.Disposable>();

    constructor(
        private readonly client: LanguageClient,
        private readonly onReport?: ProgressListener,
    ) {}

    fillClientCapabilities(capabilities: ClientCapabilities): void {
        capabilities.window ??= {};
        capabilities.window.workDoneProgress = true;
    }

    initialize(): void {
        this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
            const part = showProgress(this.client, token, this.onReport);
            this.active.add(part);
        });
    }

    getState(): FeatureState {
        return { kind: 'static' };
    }

    clear(): void {
        for (const part of this.active) part.dispose();
        this.active.clear();
    }
}
