import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { StatusModel, isGemmaStatus } from '../src/status';
import { StatusBar } from '../src/statusBar';
import { recorded, resetStub } from './stub/vscode';

describe('status model', () => {
    it('goes starting → loading with progress → ready → generating → ready', () => {
        const s = new StatusModel();
        assert.match(s.view().text, /starting/);
        s.loadingProgress(42.4, 'target weights');
        assert.equal(s.view().text, '$(loading~spin) Gemma: loading 42%');
        assert.match(s.view().tooltip, /target weights/);
        s.serverStatus({ state: 'ready', model: 'tiny', message: 'tiny random model: output is gibberish' });
        assert.equal(s.view().text, '$(sparkle) Gemma tiny');
        assert.equal(s.view().command, 'gemma.showStatus');
        assert.equal(s.percentage, undefined);
        s.serverStatus({ state: 'generating' });
        assert.equal(s.view().text, '$(sync~spin) Gemma tiny: generating', 'the model name is kept when a later status omits it');
        s.serverStatus({ state: 'ready' });
        assert.equal(s.view().text, '$(sparkle) Gemma tiny');
    });

    it('shows a loading percentage reported in gemma/status loading state', () => {
        const s = new StatusModel();
        s.serverStatus({ state: 'loading', model: 'e4b' });
        s.loadingProgress(150, undefined);
        assert.equal(s.view().text, '$(loading~spin) Gemma e4b: loading 100%');
    });

    it('ignores loading progress once ready (a late report must not flip the state back)', () => {
        const s = new StatusModel();
        s.serverStatus({ state: 'ready', model: 'tiny' });
        s.loadingProgress(50, 'late');
        assert.equal(s.state, 'ready');
    });

    it('marks errors and crashes in the error colour with the message in the tooltip', () => {
        const s = new StatusModel();
        s.serverStatus({ state: 'error', model: 'e2b', message: 'CUDA out of memory' });
        assert.equal(s.view().background, 'error');
        assert.match(s.view().tooltip, /CUDA out of memory/);
        s.clientState('crashed', 'crashed 6 times');
        assert.equal(s.view().text, '$(error) Gemma: stopped');
        assert.equal(s.view().background, 'error');
        s.clientState('stopped');
        assert.equal(s.view().command, 'gemma.restartServer');
        s.clientState('missing');
        assert.equal(s.view().background, 'warning');
    });

    it('shows when inline completions are off for the language', () => {
        const s = new StatusModel();
        s.serverStatus({ state: 'ready', model: 'tiny' });
        s.setInlineEnabled(false);
        assert.equal(s.view().text, '$(sparkle) Gemma tiny (inline off)');
    });

    it('says in the tooltip when the model is a stand-in with random weights', () => {
        const s = new StatusModel();
        s.serverStatus({ state: 'ready', model: 'tiny', placeholder: true });
        assert.match(s.view().tooltip, /random weights/);
        s.serverStatus({ state: 'ready', model: 'e4b', placeholder: false });
        assert.doesNotMatch(s.view().tooltip, /random weights/);
    });

    it('validates gemma/status payloads', () => {
        assert.equal(isGemmaStatus({ state: 'ready', model: 'tiny', message: null }), true);
        assert.equal(isGemmaStatus({ state: 'sleeping' }), false);
        assert.equal(isGemmaStatus({ state: 'ready', model: 3 }), false);
        assert.equal(isGemmaStatus({ state: 'ready', placeholder: 'yes' }), false);
        assert.equal(isGemmaStatus(null), false);
    });
});

describe('status bar item', () => {
    beforeEach(resetStub);

    it('renders the model on every change', () => {
        const model = new StatusModel();
        const bar = new StatusBar(model);
        const item = recorded.statusItems[0];
        assert.equal(item.visible, true);
        assert.match(item.text, /starting/);
        model.serverStatus({ state: 'error', message: 'boom' });
        assert.equal(item.text, '$(error) Gemma: error');
        assert.equal(item.command, 'gemma.showStatus');
        assert.equal((item.backgroundColor as { id: string }).id, 'statusBarItem.errorBackground');
        model.serverStatus({ state: 'ready', model: 'tiny' });
        assert.equal(item.backgroundColor, undefined);
        bar.dispose();
        assert.equal(item.disposed, true);
    });
});
