/**
 * Next-edit suggestions without VS Code (unit-tested with plain objects): when to ask the server
 * (`gemma/nextEdit`, docs/protocol.md), which answer may be shown, and what accepting applies.
 *
 * After a change to a document the shown suggestion goes at once (it was for the text before) and the
 * request in flight is cancelled; after `debounceMs` of quiet the controller asks again. An answer is
 * shown only when it was made for the document version the editor still has; accepting hands out the
 * edit only for that version, so a suggestion never lands on text it was not computed for.
 */
import type { LspPosition, LspRange } from './commandArgs';
import { CancelToken, debounce } from './inline';

/** A `gemma/nextEdit` result. */
export interface NextEdit {
    range: LspRange;
    newText: string;
    label: string;
    version: number;
}

function isPosition(value: unknown): value is LspPosition {
    const p = value as LspPosition;
    return typeof p === 'object' && p !== null && Number.isInteger(p.line) && Number.isInteger(p.character)
        && p.line >= 0 && p.character >= 0;
}

/** Whether a server reply is a usable next edit (anything else is treated as "no suggestion"). */
export function isNextEdit(value: unknown): value is NextEdit {
    const e = value as NextEdit;
    return typeof e === 'object' && e !== null && typeof e.range === 'object' && e.range !== null
        && isPosition(e.range.start) && isPosition(e.range.end) && typeof e.newText === 'string'
        && typeof e.label === 'string' && Number.isInteger(e.version);
}

/** A cancellation source whose token VS Code's language client accepts. */
export class TokenSource implements CancelToken {
    isCancellationRequested = false;
    private listeners: Array<() => unknown> = [];
    onCancellationRequested(listener: () => unknown): { dispose(): void } {
        this.listeners.push(listener);
        return { dispose: () => { this.listeners = this.listeners.filter((l) => l !== listener); } };
    }
    cancel(): void {
        if (this.isCancellationRequested) return;
        this.isCancellationRequested = true;
        for (const listener of this.listeners) listener();
        this.listeners = [];
    }
}

/** What the controller needs from the editor. */
export interface NextEditHost<D> {
    /** A stable key of the document (its URI). */
    key(doc: D): string;
    /** The document's current version (what the language client sent in didChange). */
    version(doc: D): number;
    /** Whether suggestions are on for the document (`gemma.nextEdit.enabled`). */
    enabled(doc: D): boolean;
    /** The cursor in the document now, or undefined when it is not the active editor's. */
    cursor(doc: D): LspPosition | undefined;
    /** Sends `gemma/nextEdit`; resolves with the server's result. */
    request(params: { textDocument: { uri: string }; position: LspPosition; version: number }, token: CancelToken): Promise<unknown>;
    show(doc: D, edit: NextEdit): void;
    clear(doc: D): void;
    debounceMs(): number;
    log?(message: string): void;
}

export class NextEditController<D> {
    private shown: { key: string; edit: NextEdit } | undefined;
    private pending: TokenSource | undefined;
    /** Requests sent, answers shown, answers dropped as stale (tests and logs). */
    readonly stats = { sent: 0, shown: 0, stale: 0 };

    constructor(private readonly host: NextEditHost<D>) {}

    /** The suggestion shown for `doc` at its current version, or undefined. */
    current(doc: D): NextEdit | undefined {
        const shown = this.shown;
        if (!shown || shown.key !== this.host.key(doc) || shown.edit.version !== this.host.version(doc)) return undefined;
        return shown.edit;
    }

    /** The document changed: clear what is shown, cancel the request in flight, ask again when quiet. */
    async onDidChange(doc: D): Promise<void> {
        this.clear(doc);
        if (!this.host.enabled(doc)) return;
        const source = new TokenSource();
        this.pending = source;
        if (!(await debounce(this.host.debounceMs(), source))) return;
        await this.ask(doc, source);
    }

    /** Asks now (no debounce), e.g. from a command. */
    async requestNow(doc: D): Promise<void> {
        this.clear(doc);
        if (!this.host.enabled(doc)) return;
        const source = new TokenSource();
        this.pending = source;
        await this.ask(doc, source);
    }

    private async ask(doc: D, source: TokenSource): Promise<void> {
        const position = this.host.cursor(doc);
        if (!position || source.isCancellationRequested) return;
        const version = this.host.version(doc);
        this.stats.sent++;
        let result: unknown;
        try {
            result = await this.host.request({ textDocument: { uri: this.host.key(doc) }, position, version }, source);
        } catch (error) {
            if (!source.isCancellationRequested) this.host.log?.(`gemma/nextEdit failed: ${String((error as Error)?.message ?? error)}`);
            return;
        } finally {
            if (this.pending === source) this.pending = undefined;
        }
        if (source.isCancellationRequested || !isNextEdit(result)) return;
        if (result.version !== version || this.host.version(doc) !== version) {
            this.stats.stale++;
            return; // made for text that is gone
        }
        this.shown = { key: this.host.key(doc), edit: result };
        this.stats.shown++;
        this.host.show(doc, result);
    }

    /** Hands out the shown edit for `doc` to apply (only for the version it was made for) and clears it. */
    take(doc: D): NextEdit | undefined {
        const edit = this.current(doc);
        this.clear(doc);
        return edit;
    }

    /** Removes the suggestion and cancels the request in flight. */
    clear(doc: D): void {
        this.pending?.cancel();
        this.pending = undefined;
        if (this.shown) {
            this.shown = undefined;
            this.host.clear(doc);
        }
    }
}

/** The first line of the new text as decoration text (a decoration shows one line), and whether more follows. */
export function previewText(newText: string): string {
    const lines = newText.split('\n');
    return lines.length > 1 ? `${lines[0]} …` : lines[0];
}
