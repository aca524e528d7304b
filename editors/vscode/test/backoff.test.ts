import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RestartPolicy } from '../src/backoff';

describe('restart back-off', () => {
    const options = { maxRestarts: 4, windowMs: 60_000, baseDelayMs: 1000, maxDelayMs: 5000 };

    it('doubles the delay per crash, capped, then gives up', () => {
        const policy = new RestartPolicy(options);
        assert.deepEqual([0, 1, 2, 3].map((t) => policy.onCrash(t * 100)), [1000, 2000, 4000, 5000]);
        assert.equal(policy.onCrash(500), undefined);
        assert.equal(policy.recentCrashes, 5);
    });

    it('forgets crashes older than the window', () => {
        const policy = new RestartPolicy(options);
        for (let i = 0; i < 4; i++) policy.onCrash(i);
        assert.equal(policy.onCrash(61_000), 1000, 'a crash long after the others starts over');
        assert.equal(policy.recentCrashes, 1);
    });

    it('starts over after a manual restart', () => {
        const policy = new RestartPolicy(options);
        for (let i = 0; i < 5; i++) policy.onCrash(i);
        assert.equal(policy.onCrash(10), undefined);
        policy.reset();
        assert.equal(policy.onCrash(11), 1000);
    });
});
