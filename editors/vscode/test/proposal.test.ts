import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type * as vscode from 'vscode';
import { applyTextEdits, asProposal, fileEditsOf, fileName, proposalOf, summarize } from '../src/proposal';
import { APPLY_PROPOSAL, DISCARD_PROPOSAL, PROPOSAL_SCHEME, ProposalReview } from '../src/proposalReview';
import { TabInputTextDiff, Uri, choices, commandHandlers, documents, providers, recorded, resetStub, tabs } from './stub/vscode';

const at = (line: number, character: number) => ({ line, character });
const edit = (sl: number, sc: number, el: number, ec: number, newText: string) => ({ range: { start: at(sl, sc), end: at(el, ec) }, newText });

const CALC = 'file:///w/calc.py';
const calcText = 'def add(a, b):\n    return a - b\n';
/** What gemma.debug proposes for calc.py: `a - b` becomes `a + b`, pinned to version 3. */
const calcEdit = { documentChanges: [{ textDocument: { uri: CALC, version: 3 }, edits: [edit(1, 0, 2, 0, '    return a + b\n')] }] };
const calcProposal = { edit: calcEdit, diff: '--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n', summary: '1 change in calc.py' };

describe('proposed edits: reading and applying text edits', () => {
    it('applies LSP edits to text (positions in the original text, any line ending)', () => {
        assert.equal(applyTextEdits(calcText, calcEdit.documentChanges[0].edits), 'def add(a, b):\n    return a + b\n');
        // Two edits given out of order, an insertion, and CRLF lines.
        const crlf = 'one\r\ntwo\r\nthree';
        assert.equal(applyTextEdits(crlf, [edit(2, 0, 2, 5, 'THREE'), edit(0, 3, 0, 3, '!'), edit(1, 0, 1, 3, 'TWO')]), 'one!\r\nTWO\r\nTHREE');
        // A character past the line's end means the line's end; a line past the last means the end.
        assert.equal(applyTextEdits('ab\ncd', [edit(0, 99, 0, 99, '+'), edit(7, 0, 7, 0, '\nef')]), 'ab+\ncd\nef');
        // UTF-16 positions: the emoji counts as two code units, as in LSP and JavaScript.
        assert.equal(applyTextEdits('x = "😀"; y', [edit(0, 10, 0, 11, 'z')]), 'x = "😀"; z');
    });

    it('refuses overlapping or backwards edits', () => {
        assert.throws(() => applyTextEdits('abcdef', [edit(0, 0, 0, 3, 'x'), edit(0, 2, 0, 4, 'y')]), /overlap/);
        assert.throws(() => applyTextEdits('abcdef', [edit(0, 4, 0, 1, 'x')]), /ends before it starts/);
    });

    it('splits a WorkspaceEdit into per-file edits, from documentChanges or changes', () => {
        assert.deepEqual(fileEditsOf(calcEdit), [{ uri: CALC, version: 3, edits: calcEdit.documentChanges[0].edits }]);
        const split = { documentChanges: [
            { textDocument: { uri: CALC, version: 3 }, edits: [edit(0, 0, 0, 0, '# a\n')] },
            { textDocument: { uri: 'file:///w/test_calc.py', version: null }, edits: [edit(0, 0, 0, 0, '# b\n')] },
            { textDocument: { uri: CALC, version: 3 }, edits: [edit(1, 0, 1, 0, '# c\n')] },
        ] };
        const files = fileEditsOf(split);
        assert.deepEqual(files.map((f) => [fileName(f.uri), f.version, f.edits.length]), [['calc.py', 3, 2], ['test_calc.py', null, 1]]);
        assert.equal(summarize(files), '3 changes in calc.py and test_calc.py');
        assert.deepEqual(fileEditsOf({ changes: { [CALC]: [edit(0, 0, 0, 0, 'x')] } }), [{ uri: CALC, version: null, edits: [edit(0, 0, 0, 0, 'x')] }]);
        assert.throws(() => fileEditsOf({ documentChanges: [{ kind: 'create', uri: 'file:///w/new.py' }] }), /"create" file operation/);
        assert.throws(() => fileEditsOf({ documentChanges: [{ textDocument: { uri: CALC, version: 1 }, edits: [{ newText: 'x' }] }] }), /not a text edit/);
    });

    it('reads a Proposal, or builds one from an old server\'s bare edit', () => {
        assert.deepEqual(asProposal(calcProposal), calcProposal);
        assert.equal(asProposal({ diff: 'x', summary: 'y' }), undefined);
        assert.deepEqual(proposalOf({ proposal: calcProposal, edit: calcEdit }), calcProposal);
        assert.deepEqual(proposalOf({ proposal: null, edit: calcEdit, editMessage: 'Proposed edit: 1 change in calc.py.' }), { edit: calcEdit, diff: '', summary: '' });
        assert.equal(proposalOf({ proposal: null, edit: null }), undefined);
        assert.equal(fileName('file:///w/my%20dir/a%20b.py'), 'a b.py');
    });
});

const log = { info: () => undefined, warn: () => undefined } as unknown as vscode.LogOutputChannel;

/** Lets the notification's `.then` (Apply / Discard from the notification) run. */
const settle = async () => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe('proposed edits: the review in the diff editor', () => {
    beforeEach(() => {
        resetStub();
        documents.set(CALC, { text: calcText, version: 3 });
    });

    function started(): ProposalReview {
        const review = new ProposalReview(log);
        review.register();
        return review;
    }

    it('opens a diff of the file against the proposed text, and changes nothing before Apply', async () => {
        const review = started();
        assert.equal(await review.show(calcProposal), true);
        const diff = recorded.executed.find((c) => c.command === 'vscode.diff');
        assert.ok(diff, 'vscode.diff was not opened');
        const [left, right, title] = diff.args as [Uri, Uri, string];
        assert.equal(left.toString(), CALC, 'the original document on the left');
        assert.equal(right.scheme, PROPOSAL_SCHEME);
        assert.match(right.path, /\/calc\.py$/, 'the proposed side keeps the file name (and so its language)');
        assert.match(title, /calc\.py/);
        assert.equal(providers.get(PROPOSAL_SCHEME)?.provideTextDocumentContent(right), 'def add(a, b):\n    return a + b\n');
        assert.deepEqual(documents.get(CALC), { text: calcText, version: 3 }, 'nothing is applied before Apply');
        const offer = recorded.messages.find((m) => m.items.includes('Apply'));
        assert.equal(offer?.text, 'Gemma proposes 1 change in calc.py. Review the diff, then apply or discard it.');
        assert.deepEqual(offer?.items, ['Apply', 'Discard']);
        assert.deepEqual(recorded.executed.find((c) => c.command === 'setContext')?.args, ['gemma.proposalPending', true]);
    });

    it('Apply (the editor title action) applies the edit and closes the diff', async () => {
        const review = started();
        await review.show(calcProposal);
        const right = (recorded.executed.find((c) => c.command === 'vscode.diff')!.args as Uri[])[1];
        assert.equal(await commandHandlers.get(APPLY_PROPOSAL)!(right), true);
        assert.equal(documents.get(CALC)?.text, 'def add(a, b):\n    return a + b\n');
        assert.equal(recorded.closedTabs.length, 1, 'the diff tab was closed');
        assert.ok(recorded.closedTabs[0].input instanceof TabInputTextDiff);
        assert.equal(tabs.length, 0);
        assert.equal(recorded.messages.at(-1)?.text, 'Gemma: applied 1 change in calc.py.');
        assert.equal(review.pendingSummary, undefined);
        // The virtual document no longer holds the proposal; a second Apply has nothing to apply.
        assert.match(providers.get(PROPOSAL_SCHEME)!.provideTextDocumentContent(right), /applied or discarded/);
        assert.equal(await commandHandlers.get(APPLY_PROPOSAL)!(right), false);
        assert.equal(documents.get(CALC)?.version, 4, 'applied once');
    });

    it('Apply from the notification works too', async () => {
        const review = started();
        choices.next = 'Apply';
        await review.show(calcProposal);
        await settle();
        assert.equal(documents.get(CALC)?.text, 'def add(a, b):\n    return a + b\n');
    });

    it('refuses to apply when the document changed after the proposal, and says so', async () => {
        const review = started();
        await review.show(calcProposal);
        // The user types in calc.py while the diff is open.
        documents.set(CALC, { text: '# edited\n' + calcText, version: 4 });
        assert.equal(await review.apply(), false);
        assert.equal(documents.get(CALC)?.text, '# edited\n' + calcText, 'nothing was applied');
        assert.match(recorded.messages.at(-1)?.text ?? '', /calc\.py changed since the change was proposed, so nothing was applied/);
        assert.equal(review.pendingSummary, '1 change in calc.py', 'the proposal stays open for review');
    });

    it('refuses to review an edit made for an older version of the document', async () => {
        documents.set(CALC, { text: calcText, version: 5 });
        const review = started();
        assert.equal(await review.show(calcProposal), false);
        assert.equal(recorded.executed.filter((c) => c.command === 'vscode.diff').length, 0);
        assert.match(recorded.messages.at(-1)?.text ?? '', /calc\.py changed while the change was being proposed/);
    });

    it('Discard closes the diff and applies nothing; a later notification click is refused', async () => {
        const review = started();
        await review.show(calcProposal);
        assert.equal(await commandHandlers.get(DISCARD_PROPOSAL)!(), true);
        assert.equal(recorded.closedTabs.length, 1);
        assert.deepEqual(documents.get(CALC), { text: calcText, version: 3 });
        assert.equal(await review.apply(), false);
        assert.match(recorded.messages.at(-1)?.text ?? '', /already applied or discarded/);
    });

    it('a new proposal replaces one still waiting, and the old diff\'s Apply is refused', async () => {
        const review = started();
        await review.show(calcProposal);
        const oldRight = (recorded.executed.find((c) => c.command === 'vscode.diff')!.args as Uri[])[1];
        await review.show({ ...calcProposal, edit: { changes: { [CALC]: [edit(0, 0, 0, 0, '# header\n')] } }, summary: '' });
        assert.equal(recorded.closedTabs.length, 1, 'the first diff was closed');
        assert.equal(await review.apply(oldRight as unknown as vscode.Uri), false);
        assert.equal(documents.get(CALC)?.text, calcText);
        assert.equal(review.pendingSummary, '1 change in calc.py', 'the summary is computed when the server gave none');
        assert.equal(await review.apply(), true);
        assert.equal(documents.get(CALC)?.text, '# header\n' + calcText);
    });

    it('says what is wrong with a proposal it cannot show, and changes nothing', async () => {
        const review = started();
        assert.equal(await review.show({ edit: { documentChanges: [{ kind: 'delete', uri: CALC }] }, diff: '', summary: '' }), false);
        assert.match(recorded.messages.at(-1)?.text ?? '', /cannot be shown: .*"delete" file operation.*Nothing was changed/);
        assert.equal(await review.show({ edit: { changes: { 'file:///w/gone.py': [edit(0, 0, 0, 0, 'x')] } }, diff: '', summary: '' }), false);
        assert.match(recorded.messages.at(-1)?.text ?? '', /cannot open gone\.py/);
        assert.deepEqual(documents.get(CALC), { text: calcText, version: 3 });
    });
});
