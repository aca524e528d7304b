/**
 * The status bar: a small state machine fed by the client's lifecycle, the server's `gemma/status`
 * notification and model-loading progress, and a pure `view()` that says what the item shows.
 */

/** States the server reports in `gemma/status` (docs/protocol.md). */
export type ServerState = 'loading' | 'ready' | 'generating' | 'error' | 'disabled';
/** States only the client knows about. */
export type ClientState = 'starting' | 'stopped' | 'crashed' | 'missing';
export type StatusState = ServerState | ClientState;

/** Payload of the `gemma/status` notification. */
export interface GemmaStatusParams {
    state: ServerState;
    model?: string;
    message?: string;
    /** True for the tiny random model (or another stand-in): its output is not a real model's. */
    placeholder?: boolean;
}

export const STATUS_NOTIFICATION = 'gemma/status';

/** What the status bar item shows. */
export interface StatusView {
    text: string;
    tooltip: string;
    /** Command run on click. */
    command: string;
    /** Background: VS Code's error/warning status bar colours, or none. */
    background?: 'error' | 'warning';
}

const SERVER_STATES: readonly string[] = ['loading', 'ready', 'generating', 'error', 'disabled'];

/** Whether `value` is a well-formed `gemma/status` payload. */
export function isGemmaStatus(value: unknown): value is GemmaStatusParams {
    if (typeof value !== 'object' || value === null) return false;
    const v = value as Record<string, unknown>;
    return typeof v.state === 'string' && SERVER_STATES.includes(v.state) &&
        (v.model === undefined || v.model === null || typeof v.model === 'string') &&
        (v.message === undefined || v.message === null || typeof v.message === 'string') &&
        (v.placeholder === undefined || v.placeholder === null || typeof v.placeholder === 'boolean');
}

export class StatusModel {
    state: StatusState = 'starting';
    model: string | undefined;
    message: string | undefined;
    /** Model loading progress 0..100 while loading, when the server reports one. */
    percentage: number | undefined;
    /** Whether inline completions are on for the active editor's language. */
    inlineEnabled = true;
    /** The server runs a stand-in model (tiny random weights). */
    placeholder = false;

    private listeners: Array<() => void> = [];

    /** Calls `listener` after every change. */
    onChange(listener: () => void): void {
        this.listeners.push(listener);
    }

    private changed(): void {
        for (const listener of this.listeners) listener();
    }

    /** A `gemma/status` notification arrived; malformed ones are ignored (the caller logs them). */
    serverStatus(params: GemmaStatusParams): void {
        this.state = params.state;
        if (params.model) this.model = params.model;
        if (params.placeholder !== undefined && params.placeholder !== null) this.placeholder = params.placeholder;
        this.message = params.message ?? undefined;
        if (params.state !== 'loading') this.percentage = undefined;
        this.changed();
    }

    /** Work-done progress of model loading (`percentage` may be absent). */
    loadingProgress(percentage: number | undefined, message: string | undefined): void {
        if (this.state !== 'loading' && this.state !== 'starting') return;
        this.state = 'loading';
        if (percentage !== undefined) this.percentage = Math.max(0, Math.min(100, Math.round(percentage)));
        if (message) this.message = message;
        this.changed();
    }

    /** The client's own lifecycle: starting a process, stopped on purpose, crashed, or no server found. */
    clientState(state: ClientState, message?: string): void {
        this.state = state;
        this.message = message;
        this.percentage = undefined;
        this.changed();
    }

    setInlineEnabled(enabled: boolean): void {
        if (this.inlineEnabled === enabled) return;
        this.inlineEnabled = enabled;
        this.changed();
    }

    /** What the status bar item shows now. */
    view(): StatusView {
        const model = this.model ? ` ${this.model}` : '';
        const standIn = this.placeholder ? '\n\nThis is a stand-in model with random weights (for tests): its suggestions are gibberish. Set gemma.model to e2b, e4b, 26b or 31b.' : '';
        const details = (this.message ? `\n\n${this.message}` : '') + standIn;
        const inline = this.inlineEnabled ? '' : ' (inline off)';
        const show = 'gemma.showStatus';
        switch (this.state) {
            case 'starting':
                return { text: '$(loading~spin) Gemma: starting', tooltip: `Starting the gemma-lsp server${details}`, command: 'gemma.showLogs' };
            case 'loading': {
                const pct = this.percentage !== undefined ? ` ${this.percentage}%` : '';
                return { text: `$(loading~spin) Gemma${model}: loading${pct}`, tooltip: `Loading the model${details}`, command: 'gemma.showLogs' };
            }
            case 'ready':
                return { text: `$(sparkle) Gemma${model}${inline}`, tooltip: `Gemma${model} is ready${details}\n\nClick for details.`, command: show };
            case 'generating':
                return { text: `$(sync~spin) Gemma${model}: generating`, tooltip: `Gemma${model} is generating${details}`, command: show };
            case 'disabled':
                return { text: `$(circle-slash) Gemma${model}: off`, tooltip: `Completions are turned off on the server${details}`, command: show };
            case 'error':
                return { text: `$(error) Gemma${model}: error`, tooltip: `The server reported an error${details}\n\nClick for details.`, command: show, background: 'error' };
            case 'crashed':
                return { text: '$(error) Gemma: stopped', tooltip: `The server crashed too often and was stopped${details}\n\nClick for details.`, command: show, background: 'error' };
            case 'stopped':
                return { text: '$(debug-stop) Gemma: stopped', tooltip: `The server is not running${details}\n\nClick to restart.`, command: 'gemma.restartServer' };
            case 'missing':
                return { text: '$(warning) Gemma: no server', tooltip: `gemma-lsp was not found${details}\n\nClick for details.`, command: show, background: 'warning' };
        }
    }
}
