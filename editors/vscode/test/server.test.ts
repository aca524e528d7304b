import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type * as vscode from 'vscode';
import { ServerManager } from '../src/server';
import { StatusModel } from '../src/status';
import { recorded, resetStub } from './stub/vscode';

const log = { info: () => undefined, warn: () => undefined, error: () => undefined, show: () => undefined } as unknown as vscode.LogOutputChannel;

/** A manager whose server "is running", with `start` replaced by a counter. */
function runningManager(status: StatusModel) {
    const manager = new ServerManager({
        context: {} as vscode.ExtensionContext,
        log,
        status,
        runServerCommand: () => Promise.resolve(undefined),
        onMissing: () => Promise.resolve(),
    });
    const starts = { count: 0 };
    const internals = manager as unknown as { running: boolean; start: () => Promise<void>; stop: () => Promise<void>; onClosed: () => { action: number; handled?: boolean } };
    internals.start = () => {
        starts.count++;
        internals.running = true;
        return Promise.resolve();
    };
    internals.running = true;
    return { manager, internals, starts };
}

describe('server crash handling', () => {
    beforeEach(() => {
        resetStub();
        mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    });
    afterEach(() => mock.timers.reset());

    it('restarts after 1, 2, 4, 8, 16 s, then stops and says so', async () => {
        const status = new StatusModel();
        const { internals, starts } = runningManager(status);
        for (const delay of [1000, 2000, 4000, 8000, 16000]) {
            const result = internals.onClosed();
            assert.equal(result.handled, true, 'the library must not show its own message');
            assert.equal(status.state, 'starting');
            assert.match(status.message ?? '', new RegExp(`in ${delay / 1000} s`));
            const before = starts.count;
            mock.timers.tick(delay - 1);
            await Promise.resolve();
            assert.equal(starts.count, before, `restarted before ${delay} ms`);
            mock.timers.tick(1);
            for (let i = 0; i < 5; i++) await Promise.resolve(); // stop() then start()
            assert.equal(starts.count, before + 1, `not restarted after ${delay} ms`);
        }
        internals.onClosed();
        assert.equal(status.state, 'crashed');
        assert.match(recorded.messages.at(-1)?.text ?? '', /crashed 6 times .* will not be restarted/);
        mock.timers.tick(60_000);
        await Promise.resolve();
        assert.equal(starts.count, 5, 'restarted after giving up');
    });

    it('does not treat a stop it asked for as a crash', async () => {
        const status = new StatusModel();
        const { internals, starts } = runningManager(status);
        internals.running = false;
        internals.onClosed();
        mock.timers.tick(60_000);
        for (let i = 0; i < 5; i++) await Promise.resolve();
        assert.equal(starts.count, 0);
        assert.equal(status.message, undefined, 'a restart was announced');
        assert.equal(recorded.messages.length, 0);
    });
});
