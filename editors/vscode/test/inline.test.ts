import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { TRIGGER_INVOKE, debounce, inlineMiddleware, itemCount, newStats } from '../src/inline';

/** A cancellation token like VS Code's. */
class Token {
    isCancellationRequested = false;
    private listeners: Array<() => unknown> = [];
    onCancellationRequested(listener: () => unknown) {
        this.listeners.push(listener);
        return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
    }
    cancel(): void {
        this.isCancellationRequested = true;
        for (const l of this.listeners) l();
    }
    get listenerCount(): number {
        return this.listeners.length;
    }
}

const AUTOMATIC = 1;
const doc = (languageId: string) => ({ languageId });

describe('debounce', () => {
    beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
    afterEach(() => mock.timers.reset());

    it('resolves true after the wait when nobody cancels', async () => {
        const token = new Token();
        const result = debounce(100, token);
        mock.timers.tick(100);
        assert.equal(await result, true);
        assert.equal(token.listenerCount, 0, 'the cancellation listener is removed');
    });

    it('resolves false as soon as the token is cancelled', async () => {
        const token = new Token();
        const result = debounce(100, token);
        mock.timers.tick(50);
        token.cancel();
        assert.equal(await result, false);
    });

    it('does not wait for an already-cancelled token or a zero delay', async () => {
        const cancelled = new Token();
        cancelled.cancel();
        assert.equal(await debounce(100, cancelled), false);
        assert.equal(await debounce(0, new Token()), true);
    });
});

describe('inline completion middleware', () => {
    beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
    afterEach(() => mock.timers.reset());

    it('sends only the last of several keystrokes to the server', async () => {
        const stats = newStats();
        const mw = inlineMiddleware({ debounceMs: () => 150, enabledFor: () => true }, stats);
        const sent: string[] = [];
        const next = (_d: unknown, p: string) => { sent.push(p); return Promise.resolve([`item at ${p}`]); };
        // VS Code cancels the previous request's token on each keystroke.
        const tokens = [new Token(), new Token(), new Token()];
        const results = tokens.map((t, i) => mw(doc('python'), `pos${i}`, { triggerKind: AUTOMATIC }, t, next));
        mock.timers.tick(60);
        tokens[0].cancel();
        mock.timers.tick(60);
        tokens[1].cancel();
        mock.timers.tick(150);
        assert.deepEqual(await Promise.all(results), [null, null, ['item at pos2']]);
        assert.deepEqual(sent, ['pos2']);
        assert.deepEqual(stats, { requested: 3, skippedDisabled: 0, droppedWhileTyping: 2, sent: 1, invoked: 0 });
    });

    it('asks at once when the user invoked the completion explicitly', async () => {
        const mw = inlineMiddleware({ debounceMs: () => 10_000, enabledFor: () => true });
        const result = await mw(doc('python'), 'p', { triggerKind: TRIGGER_INVOKE }, new Token(), () => Promise.resolve(['x']));
        assert.deepEqual(result, ['x']);
    });

    it('passes a cycling (Invoke) request straight through, while an automatic one waits, and returns every item', async () => {
        // VS Code asks with trigger kind Invoke when the user cycles (Alt+]) and knows only one item; the
        // server answers with its alternatives and VS Code shows "i/N" from the list it gets back.
        const stats = newStats();
        const told: number[] = [];
        const mw = inlineMiddleware({ debounceMs: () => 10_000, enabledFor: () => true, onInvoked: (n) => told.push(n) }, stats);
        const alternatives = { items: [{ insertText: 'return a + b' }, { insertText: 'return b + a' }, { insertText: 'return sum((a, b))' }] };
        const seen: number[] = [];
        const next = (_d: unknown, _p: unknown, c: { triggerKind: number }) => { seen.push(c.triggerKind); return Promise.resolve(alternatives); };
        const automatic = mw(doc('python'), 'p', { triggerKind: AUTOMATIC }, new Token(), next);
        // No timer tick: an Invoke request must not wait for the debounce.
        const invoked = await mw(doc('python'), 'p', { triggerKind: TRIGGER_INVOKE }, new Token(), next);
        assert.equal(invoked, alternatives, 'the list reaches VS Code as the server sent it');
        assert.equal(invoked?.items.length, 3);
        assert.deepEqual(seen, [TRIGGER_INVOKE], 'the automatic request is still waiting for its debounce');
        assert.deepEqual(stats, { requested: 2, skippedDisabled: 0, droppedWhileTyping: 0, sent: 1, invoked: 1 });
        mock.timers.tick(10_000);
        assert.equal(await automatic, alternatives);
        assert.deepEqual(stats, { requested: 2, skippedDisabled: 0, droppedWhileTyping: 0, sent: 2, invoked: 1 });
        assert.deepEqual(told, [3], 'only the Invoke request is reported, with its item count');
    });

    it('counts the items of a list, an {items} result or nothing', () => {
        assert.equal(itemCount([1, 2]), 2);
        assert.equal(itemCount({ items: [1, 2, 3] }), 3);
        assert.equal(itemCount(null), 0);
        assert.equal(itemCount(undefined), 0);
    });

    it('skips languages where inline completions are turned off', async () => {
        const stats = newStats();
        const mw = inlineMiddleware({ debounceMs: () => 0, enabledFor: (id) => id !== 'markdown' }, stats);
        let called = 0;
        const next = () => { called++; return Promise.resolve(['x']); };
        assert.equal(await mw(doc('markdown'), 'p', { triggerKind: AUTOMATIC }, new Token(), next), null);
        assert.deepEqual(await mw(doc('rust'), 'p', { triggerKind: AUTOMATIC }, new Token(), next), ['x']);
        assert.equal(called, 1);
        assert.equal(stats.skippedDisabled, 1);
    });
});
