import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import {
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
} from '../src/commandArgs';
import { ResultPanel } from '../src/resultPanel';
import { recorded, resetStub } from './stub/vscode';

const uri = 'file:///w/app.py';
const at = (line: number, character: number) => ({ line, character });
const cursor = { uri, selection: { start: at(3, 4), end: at(3, 4), active: at(3, 4) } };
const selection = { uri, selection: { start: at(1, 0), end: at(2, 5), active: at(2, 5) } };

describe('command arguments', () => {
    it('gemma.debug gets the cursor, or the selection, and a trimmed question', () => {
        assert.deepEqual(debugArgs(cursor, ''), [{ uri, position: at(3, 4) }]);
        assert.deepEqual(debugArgs(selection, '  why does it fail? '), [{ uri, range: { start: at(1, 0), end: at(2, 5) }, question: 'why does it fail?' }]);
    });

    it('Explain Selection falls back to the whole line at the cursor', () => {
        assert.deepEqual(explainSelectionArgs(selection, () => 99), [{ uri, range: { start: at(1, 0), end: at(2, 5) } }]);
        assert.deepEqual(explainSelectionArgs(cursor, (line) => (line === 3 ? 17 : 0)), [{ uri, range: { start: at(3, 0), end: at(3, 17) } }]);
    });

    it('gemma.context gets the cursor', () => {
        assert.deepEqual(contextArgs(selection), [{ uri, position: at(2, 5) }]);
    });

    it('asks for an instruction only for the selection fix without a diagnostic', () => {
        assert.equal(needsInstruction('gemma.fix', [{ uri, range: {} }]), true);
        assert.equal(needsInstruction('gemma.fix', [{ uri, range: {}, instruction: 'add types' }]), false);
        assert.equal(needsInstruction('gemma.fix', [{ uri, range: {}, diagnostic: { message: 'x' } }]), false);
        assert.equal(needsInstruction('gemma.explain', [{ uri }]), false);
    });
});

describe('work-done token', () => {
    it('goes into the first argument object, leaving the caller\'s args alone', () => {
        const args = [{ uri }];
        assert.deepEqual(withWorkDoneToken(args, 't1'), [{ uri, workDoneToken: 't1' }]);
        assert.deepEqual(args, [{ uri }]);
        assert.deepEqual(withWorkDoneToken([], 't1'), []);
        assert.deepEqual(withWorkDoneToken(['x'], 't1'), ['x']);
    });
});

describe('command results', () => {
    it('narrows server results and rejects malformed ones', () => {
        assert.deepEqual(asExplainResult({ title: 'T', markdown: 'M', path: '/p' }), { title: 'T', markdown: 'M', path: '/p' });
        assert.equal(asExplainResult({ title: 'T' }), undefined);
        assert.deepEqual(asFixResult({ applied: false, message: 'stale' }), { applied: false, message: 'stale', proposal: undefined });
        assert.equal(asFixResult(null), undefined);
        assert.equal(asDebugResult({ edit: null }), undefined);
        assert.deepEqual(asDebugResult({ answer: 'A', stopReason: 'answer' }), { answer: 'A', proposal: undefined, stopReason: 'answer', transcript: undefined });
    });

    it('reads the proposal of a debug or preview-fix result, and an old server\'s bare edit', () => {
        const edit = { documentChanges: [{ textDocument: { uri: 'file:///w/calc.py', version: 3 }, edits: [] }] };
        const proposal = { edit, diff: '--- a/calc.py\n+++ b/calc.py\n', summary: '1 change in calc.py' };
        assert.deepEqual(asDebugResult({ answer: 'A', proposal, edit, editMessage: 'Proposed edit: 1 change in calc.py.' })?.proposal, proposal);
        assert.deepEqual(asDebugResult({ answer: 'A', edit, editMessage: 'Proposed edit: 1 change in calc.py.' })?.proposal, { edit, diff: '', summary: '' });
        assert.equal(asDebugResult({ answer: 'A', proposal: null, edit: null })?.proposal, undefined);
        assert.deepEqual(asFixResult({ applied: false, proposal })?.proposal, proposal);
        assert.equal(asFixResult({ applied: true, proposal })?.proposal, undefined, 'an applied fix has nothing left to review');
    });

    it('renders a debug answer with why it stopped and whether a change is proposed', () => {
        assert.equal(debugMarkdown({ answer: 'It fails.', proposal: undefined, stopReason: 'answer' }), 'It fails.');
        assert.equal(debugMarkdown({ answer: 'It fails.', proposal: undefined, stopReason: 'answered' }), 'It fails.');
        const md = debugMarkdown({ answer: ' ', proposal: { edit: {}, diff: '', summary: '1 change in calc.py.' }, stopReason: 'maxToolCalls' });
        assert.match(md, /no answer/);
        assert.match(md, /stopped: maxToolCalls/);
        assert.match(md, /change is proposed \(1 change in calc\.py\): review it in the diff editor, then Apply or Discard/);
    });

    it('asks gemma.fix for a preview, and can take the request back for an old server', () => {
        const args = withPreview([{ uri: 'u', instruction: 'x' }]);
        assert.deepEqual(args, [{ uri: 'u', instruction: 'x', preview: true }]);
        assert.deepEqual(withoutPreview(args), [{ uri: 'u', instruction: 'x' }]);
        assert.deepEqual(withoutPreview([{ uri: 'u' }]), [{ uri: 'u' }]);
        // What a server from before proposals answers (server/gemma_lsp/lsp/targets.py).
        assert.ok(rejectsPreview('gemma.fix: unknown argument preview (it takes diagnostic, instruction, range, uri)'));
        assert.ok(!rejectsPreview('gemma.fix: unknown argument foo'));
        assert.ok(!rejectsPreview('no usable fix'));
    });
});

describe('result panel', () => {
    beforeEach(resetStub);

    it('reuses one webview and renders escaped markdown into it', () => {
        const panel = new ResultPanel();
        panel.show('Explain: E1', '`x` <img src=x onerror=1>');
        panel.show('Explain: E2', 'second');
        assert.equal(recorded.webviews.length, 1);
        assert.equal(recorded.webviews[0].title, 'Explain: E2');
        assert.match(recorded.webviews[0].html, /<p>second<\/p>/);
        panel.dispose();
        panel.show('again', 'new');
        assert.equal(recorded.webviews.length, 2, 'a closed panel is recreated');
        assert.ok(!recorded.webviews.some((w) => w.html.includes('<img')));
    });
});
