/**
 * When to restart a crashed server: after 1 s, 2 s, 4 s, ... up to `maxRestarts` crashes within
 * `windowMs`; past that the extension stops and says so. A server that stayed up longer than the window
 * starts the count again, so one crash a day never adds up to giving up.
 */

export interface BackoffOptions {
    maxRestarts: number;
    windowMs: number;
    baseDelayMs: number;
    maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { maxRestarts: 5, windowMs: 3 * 60_000, baseDelayMs: 1000, maxDelayMs: 16_000 };

export class RestartPolicy {
    private crashes: number[] = [];

    constructor(private readonly options: BackoffOptions = DEFAULT_BACKOFF) {}

    /**
     * Records a crash at `now` (ms) and returns the delay before the next start, or undefined when the
     * server crashed too often and must stay stopped.
     */
    onCrash(now: number): number | undefined {
        this.crashes = this.crashes.filter((t) => now - t < this.options.windowMs);
        this.crashes.push(now);
        const n = this.crashes.length;
        if (n > this.options.maxRestarts) return undefined;
        return Math.min(this.options.baseDelayMs * 2 ** (n - 1), this.options.maxDelayMs);
    }

    /** Crashes counted in the current window. */
    get recentCrashes(): number {
        return this.crashes.length;
    }

    /** Forgets past crashes (a manual restart gives the server a fresh start). */
    reset(): void {
        this.crashes = [];
    }
}
