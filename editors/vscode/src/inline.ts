/**
 * Inline completions: the client library sends `textDocument/inlineCompletion`; this middleware sits
 * in front of it to (1) skip languages where the user turned ghost text off and (2) debounce: VS Code
 * asks on every keystroke and cancels the previous request's token, so waiting `debounceMs` and then
 * checking the token drops every request made while the user is still typing, before it reaches the
 * server.
 *
 * Requests VS Code makes with trigger kind Invoke (the user asked: "Trigger Inline Suggestion", or
 * cycles with Alt+] / Alt+[ while only the automatic suggestion is known) go straight to the server,
 * and every item it returns comes back unchanged: the server answers them with its alternatives
 * (docs/protocol.md), and VS Code shows "i/N" and cycles through them itself.
 */

/** The part of `vscode.CancellationToken` used here. */
export interface CancelToken {
    readonly isCancellationRequested: boolean;
    onCancellationRequested(listener: () => unknown): { dispose(): unknown };
}

/**
 * VS Code's `InlineCompletionTriggerKind.Invoke` (the client library sends it as LSP's Invoked, 1):
 * the user asked explicitly or is cycling, so no debounce.
 */
export const TRIGGER_INVOKE = 0;

/**
 * Resolves true after `ms` milliseconds, or false as soon as `token` is cancelled (the timer is cleared
 * so nothing keeps running).
 */
export function debounce(ms: number, token: CancelToken): Promise<boolean> {
    if (token.isCancellationRequested) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
        const sub = token.onCancellationRequested(() => {
            clearTimeout(timer);
            sub.dispose();
            resolve(false);
        });
        const timer = setTimeout(() => {
            sub.dispose();
            resolve(!token.isCancellationRequested);
        }, ms);
    });
}

export interface InlineOptions {
    /** Current `gemma.inline.debounceMs`. */
    debounceMs(): number;
    /** Current `gemma.inline.enabled` for a language. */
    enabledFor(languageId: string): boolean;
    /** Told how many items the server returned for an Invoke request (what VS Code's "i/N" counts). */
    onInvoked?(items: number): void;
}

/** How many items an inline completion result holds (a list, `{items}`, or nothing). */
export function itemCount(result: unknown): number {
    if (Array.isArray(result)) return result.length;
    if (typeof result === 'object' && result !== null && Array.isArray((result as { items?: unknown }).items)) {
        return (result as { items: unknown[] }).items.length;
    }
    return 0;
}

/** Counters, logged and checked by tests. */
export interface InlineStats {
    requested: number;
    skippedDisabled: number;
    droppedWhileTyping: number;
    sent: number;
    /** Of `sent`, the Invoke requests (explicit, or cycling). */
    invoked: number;
}

type Next<D, P, C, T, R> = (document: D, position: P, context: C, token: T) => R;

/**
 * Builds the `provideInlineCompletionItems` middleware. Generic in the VS Code types so the unit tests
 * call it with plain objects.
 */
export function inlineMiddleware(options: InlineOptions, stats: InlineStats = newStats()) {
    return async function provideInlineCompletionItems<D extends { languageId: string }, P, C extends { triggerKind: number }, T extends CancelToken, R>(
        document: D, position: P, context: C, token: T, next: Next<D, P, C, T, R>,
    ): Promise<Awaited<R> | null> {
        stats.requested++;
        if (!options.enabledFor(document.languageId)) {
            stats.skippedDisabled++;
            return null;
        }
        if (context.triggerKind === TRIGGER_INVOKE) {
            // Straight through: no timer, and the items (the alternatives) returned as they are.
            stats.sent++;
            stats.invoked++;
            const result = await next(document, position, context, token);
            options.onInvoked?.(itemCount(result));
            return result;
        }
        if (!(await debounce(options.debounceMs(), token))) {
            stats.droppedWhileTyping++;
            return null;
        }
        stats.sent++;
        return await next(document, position, context, token);
    };
}

export function newStats(): InlineStats {
    return { requested: 0, skippedDisabled: 0, droppedWhileTyping: 0, sent: 0, invoked: 0 };
}
