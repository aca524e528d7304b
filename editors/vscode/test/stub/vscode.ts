/**
 * A stand-in for the `vscode` module in unit tests (register.ts points `require('vscode')` here).
 * It implements only what the tested modules touch and records what they did in `recorded`.
 */

export const recorded = {
    statusItems: [] as StatusBarItem[],
    webviews: [] as { title: string; html: string; disposed: boolean }[],
    messages: [] as { level: 'info' | 'warning' | 'error'; text: string }[],
};

/** Settings the stub's getConfiguration serves: `values[languageId ?? ''][key]`. */
export const settings: Record<string, Record<string, unknown>> = { '': {} };

export function resetStub(): void {
    recorded.statusItems.length = 0;
    recorded.webviews.length = 0;
    recorded.messages.length = 0;
    for (const key of Object.keys(settings)) delete settings[key];
    settings[''] = {};
}

export class ThemeColor {
    constructor(readonly id: string) {}
}

export enum StatusBarAlignment { Left = 1, Right = 2 }
export enum ViewColumn { Active = -1, Beside = -2, One = 1 }
export enum ProgressLocation { SourceControl = 1, Window = 10, Notification = 15 }
export enum ConfigurationTarget { Global = 1, Workspace = 2, WorkspaceFolder = 3 }

export class StatusBarItem {
    text = '';
    tooltip: string | undefined;
    command: string | undefined;
    backgroundColor: ThemeColor | undefined;
    name: string | undefined;
    visible = false;
    disposed = false;
    constructor(readonly id: string, readonly alignment: StatusBarAlignment, readonly priority: number) {}
    show(): void { this.visible = true; }
    hide(): void { this.visible = false; }
    dispose(): void { this.disposed = true; }
}

class WebviewPanel {
    private disposeListeners: Array<() => void> = [];
    readonly webview: { html: string; cspSource: string };
    constructor(private readonly record: { title: string; html: string; disposed: boolean }) {
        const rec = record;
        this.webview = { get html() { return rec.html; }, set html(v: string) { rec.html = v; }, cspSource: 'vscode-resource:' };
    }
    get title(): string { return this.record.title; }
    set title(v: string) { this.record.title = v; }
    reveal(): void { /* nothing to do */ }
    onDidDispose(listener: () => void): void { this.disposeListeners.push(listener); }
    dispose(): void {
        this.record.disposed = true;
        for (const l of this.disposeListeners) l();
    }
}

export const window = {
    createStatusBarItem(id: string, alignment: StatusBarAlignment, priority: number): StatusBarItem {
        const item = new StatusBarItem(id, alignment, priority);
        recorded.statusItems.push(item);
        return item;
    },
    createWebviewPanel(_viewType: string, title: string): WebviewPanel {
        const record = { title, html: '', disposed: false };
        recorded.webviews.push(record);
        return new WebviewPanel(record);
    },
    showInformationMessage(text: string): Promise<undefined> {
        recorded.messages.push({ level: 'info', text });
        return Promise.resolve(undefined);
    },
    showWarningMessage(text: string): Promise<undefined> {
        recorded.messages.push({ level: 'warning', text });
        return Promise.resolve(undefined);
    },
    showErrorMessage(text: string): Promise<undefined> {
        recorded.messages.push({ level: 'error', text });
        return Promise.resolve(undefined);
    },
};

export const workspace = {
    getConfiguration(section?: string, scope?: { languageId?: string }) {
        const prefix = section ? `${section}.` : '';
        return {
            get<T>(key: string): T | undefined {
                const lang = scope?.languageId ? settings[scope.languageId] : undefined;
                const full = prefix + key;
                if (lang && full in lang) return lang[full] as T;
                return settings[''][full] as T | undefined;
            },
            update(key: string, value: unknown, _target: ConfigurationTarget, overrideInLanguage?: boolean): Promise<void> {
                const bucket = overrideInLanguage && scope?.languageId ? (settings[scope.languageId] ??= {}) : settings[''];
                bucket[prefix + key] = value;
                return Promise.resolve();
            },
        };
    },
};

// Base classes the client library extends when it loads (its converters); never used by the tests.
class Placeholder {}
export class CallHierarchyItem extends Placeholder {}
export class CodeLens extends Placeholder {}
export class CompletionItem extends Placeholder {}
export class DocumentLink extends Placeholder {}
export class InlayHint extends Placeholder {}
export class SymbolInformation extends Placeholder {}
export class TypeHierarchyItem extends Placeholder {}
export class CodeAction extends Placeholder {}
export class Diagnostic extends Placeholder {}
export class CancellationError extends Error {}
