import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { NextEdit, NextEditController, NextEditHost, isNextEdit, previewText } from '../src/nextEditController';

interface Doc { uri: string; version: number }

const EDIT: NextEdit = {
    range: { start: { line: 1, character: 11 }, end: { line: 1, character: 12 } },
    newText: 'size',
    label: 'line 2: w → size',
    version: 7,
};

/** An editor and a server in plain objects; `answer` is what the next request resolves with. */
function harness(options: { enabled?: boolean; answer?: (version: number) => unknown } = {}) {
    const doc: Doc = { uri: 'file:///w/geometry.py', version: 7 };
    const sent: Array<{ version: number; position: { line: number; character: number } }> = [];
    const shown: NextEdit[] = [];
    let cleared = 0;
    let release: (() => void) | undefined;
    const host: NextEditHost<Doc> = {
        key: (d) => d.uri,
        version: (d) => d.version,
        enabled: () => options.enabled ?? true,
        cursor: () => ({ line: 0, character: 13 }),
        request: (params, token) => {
            sent.push({ version: params.version, position: params.position });
            return new Promise((resolve) => {
                release = () => resolve((options.answer ?? ((v: number) => ({ ...EDIT, version: v })))(params.version));
                token.onCancellationRequested(() => resolve(null));
            });
        },
        show: (_d, edit) => shown.push(edit),
        clear: () => { cleared++; },
        debounceMs: () => 100,
    };
    const controller = new NextEditController(host);
    return { doc, sent, shown, controller, cleared: () => cleared, answer: () => release?.() };
}

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('next edit controller', () => {
    beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
    afterEach(() => mock.timers.reset());

    it('asks once the typing stops and shows an answer made for the current version', async () => {
        const h = harness();
        const done = h.controller.onDidChange(h.doc);
        mock.timers.tick(99);
        await settle();
        assert.equal(h.sent.length, 0, 'still typing: no request');
        mock.timers.tick(1);
        await settle();
        assert.deepEqual(h.sent, [{ version: 7, position: { line: 0, character: 13 } }]);
        h.answer();
        await done;
        assert.deepEqual(h.shown, [EDIT]);
        assert.deepEqual(h.controller.current(h.doc), EDIT);
    });

    it('clears what is shown on the next change and cancels the request in flight', async () => {
        const h = harness();
        const first = h.controller.onDidChange(h.doc);
        mock.timers.tick(100);
        await settle();
        h.answer();
        await first;
        assert.ok(h.controller.current(h.doc));
        h.doc.version = 8;
        const second = h.controller.onDidChange(h.doc);
        assert.equal(h.cleared(), 1, 'cleared at once');
        assert.equal(h.controller.current(h.doc), undefined);
        mock.timers.tick(100);
        await settle();
        h.doc.version = 9; // typing goes on while the server thinks
        void h.controller.onDidChange(h.doc);
        await second;
        assert.equal(h.shown.length, 1, 'the cancelled request shows nothing');
    });

    it('drops an answer for another version and never hands out a stale edit', async () => {
        const h = harness({ answer: () => ({ ...EDIT, version: 6 }) });
        const done = h.controller.onDidChange(h.doc);
        mock.timers.tick(100);
        await settle();
        h.answer();
        await done;
        assert.equal(h.shown.length, 0);
        assert.equal(h.controller.stats.stale, 1);

        const ok = harness();
        const shown = ok.controller.onDidChange(ok.doc);
        mock.timers.tick(100);
        await settle();
        ok.answer();
        await shown;
        ok.doc.version = 8; // changed without the change event reaching us yet
        assert.equal(ok.controller.take(ok.doc), undefined);
    });

    it('accepting takes the edit once', async () => {
        const h = harness();
        const done = h.controller.onDidChange(h.doc);
        mock.timers.tick(100);
        await settle();
        h.answer();
        await done;
        assert.deepEqual(h.controller.take(h.doc), EDIT);
        assert.equal(h.controller.take(h.doc), undefined);
        assert.equal(h.cleared(), 1);
    });

    it('sends nothing when the setting is off, and shows nothing for a null answer', async () => {
        const off = harness({ enabled: false });
        await off.controller.onDidChange(off.doc);
        assert.equal(off.sent.length, 0);

        const none = harness({ answer: () => null });
        const done = none.controller.onDidChange(none.doc);
        mock.timers.tick(100);
        await settle();
        none.answer();
        await done;
        assert.equal(none.shown.length, 0);
    });
});

describe('isNextEdit', () => {
    it('accepts the protocol shape and rejects anything else', () => {
        assert.equal(isNextEdit(EDIT), true);
        assert.equal(isNextEdit(null), false);
        assert.equal(isNextEdit({ ...EDIT, version: '7' }), false);
        assert.equal(isNextEdit({ ...EDIT, range: { start: { line: -1, character: 0 }, end: EDIT.range.end } }), false);
        assert.equal(isNextEdit({ ...EDIT, newText: undefined }), false);
    });
});

describe('previewText', () => {
    it('shows the first line of the new text and marks more', () => {
        assert.equal(previewText('size'), 'size');
        assert.equal(previewText('a,\n    b'), 'a, …');
    });
});
