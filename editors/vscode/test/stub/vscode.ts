/**
 * A stand-in for the `vscode` module in unit tests (register.ts points `require('vscode')` here).
 * It implements only what the tested modules touch and records what they did in `recorded`.
 */

export const recorded = {
    statusItems: [] as StatusBarItem[],
    webviews: [] as { title: string; html: string; disposed: boolean }[],
    messages: [] as { level: 'info' | 'warning' | 'error'; text: string; items: string[] }[],
    /** `commands.executeCommand` calls, in order. */
    executed: [] as { command: string; args: unknown[] }[],
    /** Tabs closed through `window.tabGroups.close`. */
    closedTabs: [] as Tab[],
};

/** What the next `show*Message` with buttons resolves to (undefined: the user dismissed it). */
export const choices: { next: string | undefined } = { next: undefined };

/** Open documents the stub's `workspace.openTextDocument` serves, by URI string. */
export const documents = new Map<string, { text: string; version: number }>();
/** Registered content providers and commands, by scheme and by id. */
export const providers = new Map<string, { provideTextDocumentContent(uri: Uri): string }>();
export const commandHandlers = new Map<string, (...args: unknown[]) => unknown>();
/** Tabs `window.tabGroups` lists; `vscode.diff` adds one. */
export const tabs: Tab[] = [];

/** Settings the stub's getConfiguration serves: `values[languageId ?? ''][key]`. */
export const settings: Record<string, Record<string, unknown>> = { '': {} };

export function resetStub(): void {
    recorded.statusItems.length = 0;
    recorded.webviews.length = 0;
    recorded.messages.length = 0;
    recorded.executed.length = 0;
    recorded.closedTabs.length = 0;
    choices.next = undefined;
    documents.clear();
    providers.clear();
    commandHandlers.clear();
    tabs.length = 0;
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

export class Uri {
    private constructor(readonly scheme: string, readonly path: string, readonly query: string) {}
    static parse(value: string): Uri {
        const m = /^([a-z][\w+.-]*):(?:\/\/[^/]*)?([^?#]*)(?:\?([^#]*))?/i.exec(value);
        if (!m) throw new Error(`not a URI: ${value}`);
        return new Uri(m[1], m[2], m[3] ?? '');
    }
    static from(parts: { scheme: string; path?: string; query?: string }): Uri {
        return new Uri(parts.scheme, parts.path ?? '', parts.query ?? '');
    }
    toString(): string {
        return `${this.scheme}://${this.path}${this.query ? `?${this.query}` : ''}`;
    }
}

export class Range {
    constructor(readonly startLine: number, readonly startCharacter: number, readonly endLine: number, readonly endCharacter: number) {}
}

/** Records replacements; `workspace.applyEdit` applies them to `documents` (line/character, \n lines only). */
export class WorkspaceEdit {
    readonly replacements: { uri: Uri; range: Range; newText: string }[] = [];
    replace(uri: Uri, range: Range, newText: string): void {
        this.replacements.push({ uri, range, newText });
    }
}

export class EventEmitter<T> {
    private listeners: Array<(value: T) => void> = [];
    readonly event = (listener: (value: T) => void) => {
        this.listeners.push(listener);
        return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
    };
    fire(value: T): void {
        for (const l of this.listeners) l(value);
    }
    dispose(): void {
        this.listeners = [];
    }
}

export class TabInputText {
    constructor(readonly uri: Uri) {}
}
export class TabInputTextDiff {
    constructor(readonly original: Uri, readonly modified: Uri) {}
}
export interface Tab {
    label: string;
    input: unknown;
}

function offsetOf(text: string, line: number, character: number): number {
    const lines = text.split('\n');
    let offset = 0;
    for (let i = 0; i < line; i++) offset += lines[i].length + 1;
    return offset + character;
}

export const commands = {
    registerCommand(id: string, handler: (...args: unknown[]) => unknown) {
        commandHandlers.set(id, handler);
        return { dispose: () => commandHandlers.delete(id) };
    },
    executeCommand(command: string, ...args: unknown[]): Promise<unknown> {
        recorded.executed.push({ command, args });
        if (command === 'vscode.diff') {
            const [left, right, title] = args as [Uri, Uri, string];
            tabs.push({ label: title, input: new TabInputTextDiff(left, right) });
        }
        const handler = commandHandlers.get(command);
        return Promise.resolve(handler ? handler(...args) : undefined);
    },
};

export const window = {
    tabGroups: {
        get all() {
            return [{ tabs: [...tabs] }];
        },
        close(toClose: Tab[]): Promise<boolean> {
            for (const tab of toClose) {
                recorded.closedTabs.push(tab);
                tabs.splice(tabs.indexOf(tab), 1);
            }
            return Promise.resolve(true);
        },
    },
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
    showInformationMessage(text: string, ...items: string[]): Promise<string | undefined> {
        return message('info', text, items);
    },
    showWarningMessage(text: string, ...items: string[]): Promise<string | undefined> {
        return message('warning', text, items);
    },
    showErrorMessage(text: string, ...items: string[]): Promise<string | undefined> {
        return message('error', text, items);
    },
};

function message(level: 'info' | 'warning' | 'error', text: string, items: string[]): Promise<string | undefined> {
    recorded.messages.push({ level, text, items });
    const choice = items.length && choices.next !== undefined && items.includes(choices.next) ? choices.next : undefined;
    if (choice !== undefined) choices.next = undefined;
    return Promise.resolve(choice);
}

export const workspace = {
    registerTextDocumentContentProvider(scheme: string, provider: { provideTextDocumentContent(uri: Uri): string }) {
        providers.set(scheme, provider);
        return { dispose: () => providers.delete(scheme) };
    },
    openTextDocument(uri: Uri): Promise<{ uri: Uri; version: number; getText(): string }> {
        const doc = documents.get(uri.toString());
        if (!doc) return Promise.reject(new Error(`cannot open ${uri.toString()}: no such file`));
        return Promise.resolve({ uri, version: doc.version, getText: () => doc.text });
    },
    applyEdit(edit: WorkspaceEdit): Promise<boolean> {
        const byUri = new Map<string, { range: Range; newText: string }[]>();
        for (const r of edit.replacements) byUri.set(r.uri.toString(), [...(byUri.get(r.uri.toString()) ?? []), r]);
        for (const [uri, replacements] of byUri) {
            const doc = documents.get(uri);
            if (!doc) return Promise.resolve(false);
            const spans = replacements
                .map((r) => ({ start: offsetOf(doc.text, r.range.startLine, r.range.startCharacter), end: offsetOf(doc.text, r.range.endLine, r.range.endCharacter), text: r.newText }))
                .sort((a, b) => b.start - a.start);
            for (const span of spans) doc.text = doc.text.slice(0, span.start) + span.text + doc.text.slice(span.end);
            doc.version++;
        }
        return Promise.resolve(true);
    },
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
