/**
 * The `gemma.*` settings: one table that defines every key once (type, default, bounds, whether the
 * server or the extension reads it). package.json's `contributes.configuration` mirrors this table and a
 * unit test keeps the two (and docs/protocol.md) in step.
 */

/** How a setting's value is checked. */
export type SettingKind =
    | { type: 'string'; enum?: readonly string[]; pattern?: string }
    | { type: 'nullableString' }
    | { type: 'boolean' }
    | { type: 'integer'; minimum?: number; maximum?: number }
    | { type: 'number'; exclusiveMinimum?: number }
    | { type: 'stringArray' }
    | { type: 'nullableStringArray' }
    | { type: 'stringMap' };

export type SettingValue = string | boolean | number | string[] | Record<string, string> | null;

export interface SettingSpec {
    /** Key under `gemma.` (dotted, as VS Code and docs/protocol.md write it). */
    key: string;
    kind: SettingKind;
    default: SettingValue;
    /** `server`: sent to gemma-lsp; `client`: read by the extension only. */
    audience: 'server' | 'client';
    description: string;
}

const str = (values?: readonly string[]): SettingKind => ({ type: 'string', enum: values });
const int = (minimum?: number, maximum?: number): SettingKind => ({ type: 'integer', minimum, maximum });
const bool: SettingKind = { type: 'boolean' };

/** Every setting, in the order the settings editor shows them. */
export const SETTINGS: readonly SettingSpec[] = [
    // --- read by the extension ---
    { key: 'server.command', kind: { type: 'stringArray' }, default: [], audience: 'client',
        description: 'Command that starts gemma-lsp, as a list: program then arguments (e.g. ["/path/to/gemma-lsp"] or ["python", "-m", "gemma_lsp"]). Empty: use `gemma.server.interpreter`, else `gemma-lsp` on PATH, else the selected Python interpreter, else offer to install into a private environment.' },
    { key: 'server.interpreter', kind: { type: 'string' }, default: '', audience: 'client',
        description: 'Python interpreter whose environment has gemma-lsp installed; the server runs as `<interpreter> -m gemma_lsp`. Ignored when `gemma.server.command` is set.' },
    { key: 'server.env', kind: { type: 'stringMap' }, default: {}, audience: 'client',
        description: 'Extra environment variables for the server process (e.g. PYTHONPATH, HF_HOME, CUDA_VISIBLE_DEVICES).' },
    { key: 'server.installSpec', kind: { type: 'string' }, default: 'gemma-lsp', audience: 'client',
        description: 'What `pip install` installs when the extension sets up its own environment for the server (a package name, a version pin or a local path).' },
    { key: 'inline.enabled', kind: bool, default: true, audience: 'client',
        description: 'Show inline (ghost text) completions. Can be set per language, e.g. "[markdown]": {"gemma.inline.enabled": false}; the command "Gemma: Toggle Inline Completions for This Language" does that for you.' },
    { key: 'inline.debounceMs', kind: int(0, 5000), default: 150, audience: 'client',
        description: 'Milliseconds to wait after the last keystroke before asking the model for an inline completion. Requests made while typing are dropped.' },
    // --- sent to the server (docs/protocol.md "Settings") ---
    { key: 'model', kind: { type: 'string' }, default: 'auto', audience: 'server',
        description: 'Model preset: `31b`, `26b`, `e4b`, `e2b`, `auto` (pick by the hardware found), `tiny` (random weights, for tests), or a local model folder.' },
    { key: 'drafterModel', kind: { type: 'nullableString' }, default: null, audience: 'server',
        description: 'Drafter (`-assistant`) model folder when `gemma.model` is a folder.' },
    { key: 'engine', kind: str(['local', 'remote']), default: 'local', audience: 'server',
        description: 'Run the model in the server process (`local`) or talk to an OpenAI-compatible server (`remote`).' },
    { key: 'remote.url', kind: { type: 'string' }, default: 'http://127.0.0.1:8000/v1', audience: 'server',
        description: 'Base URL of the OpenAI-compatible server (remote engine).' },
    { key: 'remote.model', kind: { type: 'nullableString' }, default: null, audience: 'server',
        description: 'Served model id (default: the first one the server lists).' },
    { key: 'remote.apiKeyEnv', kind: { type: 'string' }, default: 'GEMMA_LSP_API_KEY', audience: 'server',
        description: 'Environment variable holding the remote API key.' },
    { key: 'remote.timeoutSeconds', kind: { type: 'number', exclusiveMinimum: 0 }, default: 60, audience: 'server',
        description: 'Seconds without data before a request to the remote server fails.' },
    { key: 'device', kind: { type: 'string', pattern: '^(auto|cpu|cuda|cuda:[0-9]+|mps)$' }, default: 'auto', audience: 'server',
        description: 'Where the model runs: `auto`, `cpu`, `cuda`, `cuda:N` or `mps`.' },
    { key: 'dtype', kind: str(['auto', 'float32', 'bfloat16', 'float16']), default: 'auto', audience: 'server',
        description: 'Data type of the weights.' },
    { key: 'drafter', kind: bool, default: true, audience: 'server',
        description: 'Speculative decoding with the Gemma 4 `-assistant` drafter.' },
    { key: 'draftTokens', kind: int(1, 16), default: 4, audience: 'server',
        description: 'Drafted tokens per step when `gemma.adaptiveDraft` is off (when on, the most per step is the larger of this and 8).' },
    { key: 'adaptiveDraft', kind: bool, default: true, audience: 'server',
        description: 'Pick each step's draft length with a cost model of measured step costs and acceptance (0: a plain step).' },
    { key: 'maxNewTokens', kind: int(1, 8192), default: 128, audience: 'server',
        description: 'Most tokens per inline completion.' },
    { key: 'maxContextTokens', kind: int(256, 262144), default: 4096, audience: 'server',
        description: 'Prompt budget for completions, in tokens.' },
    { key: 'kvCacheBudgetMb', kind: int(0, 1048576), default: 1024, audience: 'server',
        description: 'Memory (MiB) kept for reused prompt caches.' },
    { key: 'completion.enabled', kind: bool, default: true, audience: 'server',
        description: 'Let the server answer inline completion requests at all (all languages, all editors).' },
    { key: 'debug.maxToolCalls', kind: int(0, 200), default: 12, audience: 'server',
        description: 'Most tool calls in one "Ask to Debug" session.' },
    { key: 'debug.maxTokens', kind: int(16, 1048576), default: 4096, audience: 'server',
        description: 'Most generated tokens in one "Ask to Debug" session.' },
    { key: 'debug.maxSeconds', kind: int(1, 86400), default: 300, audience: 'server',
        description: 'Most seconds one "Ask to Debug" session may take.' },
    { key: 'debug.thinking', kind: bool, default: false, audience: 'server',
        description: 'Gemma 4 reasoning mode in "Ask to Debug" sessions.' },
    { key: 'debug.showThoughts', kind: bool, default: false, audience: 'server',
        description: "Include the model's thoughts in answers." },
    { key: 'sandbox.timeoutSeconds', kind: int(1, 86400), default: 120, audience: 'server',
        description: 'Wall-clock limit per sandboxed tool command, in seconds.' },
    { key: 'sandbox.memoryMb', kind: int(64, 1048576), default: 2048, audience: 'server',
        description: 'Memory limit per sandboxed tool command, in MiB.' },
    { key: 'tests.command', kind: { type: 'nullableStringArray' }, default: null, audience: 'server',
        description: 'How the `run_tests` tool runs the tests, as a list (e.g. ["pytest", "-x"]); null: detect.' },
    { key: 'logFile', kind: { type: 'nullableString' }, default: null, audience: 'server',
        description: 'Also write the server log to this file.' },
];

/** Reads one setting; `vscode.WorkspaceConfiguration` for section `gemma` satisfies it. */
export interface ConfigReader {
    get<T>(key: string): T | undefined;
}

/** A value that failed validation; the default was used instead. */
export interface SettingProblem {
    key: string;
    message: string;
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Returns an error message when `value` does not fit `kind`, else undefined. */
export function checkValue(kind: SettingKind, value: unknown): string | undefined {
    switch (kind.type) {
        case 'string':
            if (typeof value !== 'string') return 'expected a string';
            if (kind.enum && !kind.enum.includes(value)) return `expected one of ${kind.enum.join(', ')}`;
            if (kind.pattern && !new RegExp(kind.pattern).test(value)) return `does not match ${kind.pattern}`;
            return undefined;
        case 'nullableString':
            return value === null || typeof value === 'string' ? undefined : 'expected a string or null';
        case 'boolean':
            return typeof value === 'boolean' ? undefined : 'expected true or false';
        case 'integer':
            if (typeof value !== 'number' || !Number.isInteger(value)) return 'expected a whole number';
            if (kind.minimum !== undefined && value < kind.minimum) return `must be at least ${kind.minimum}`;
            if (kind.maximum !== undefined && value > kind.maximum) return `must be at most ${kind.maximum}`;
            return undefined;
        case 'number':
            if (typeof value !== 'number' || !Number.isFinite(value)) return 'expected a number';
            if (kind.exclusiveMinimum !== undefined && value <= kind.exclusiveMinimum) return `must be more than ${kind.exclusiveMinimum}`;
            return undefined;
        case 'stringArray':
            return isStringArray(value) ? undefined : 'expected a list of strings';
        case 'nullableStringArray':
            return value === null || isStringArray(value) ? undefined : 'expected a list of strings or null';
        case 'stringMap':
            return typeof value === 'object' && value !== null && !Array.isArray(value) &&
                Object.values(value).every((x) => typeof x === 'string')
                ? undefined
                : 'expected an object of string values';
    }
}

/** Reads every setting of `audience`, replacing invalid values by their defaults. */
export function readSettings(
    config: ConfigReader,
    audience: 'server' | 'client',
): { values: Map<string, SettingValue>; problems: SettingProblem[] } {
    const values = new Map<string, SettingValue>();
    const problems: SettingProblem[] = [];
    for (const spec of SETTINGS) {
        if (spec.audience !== audience) continue;
        const raw = config.get<unknown>(spec.key);
        const problem = raw === undefined ? undefined : checkValue(spec.kind, raw);
        if (problem !== undefined) {
            problems.push({ key: `gemma.${spec.key}`, message: `${problem}; using ${JSON.stringify(spec.default)}` });
        }
        values.set(spec.key, raw === undefined || problem !== undefined ? spec.default : (raw as SettingValue));
    }
    return { values, problems };
}

/** Turns dotted keys into nested objects: `{"remote.url": u}` → `{remote: {url: u}}` (VS Code's own shape). */
export function nest(values: Map<string, SettingValue>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, value] of values) {
        const parts = key.split('.');
        let node = out;
        for (const part of parts.slice(0, -1)) {
            node = (node[part] ??= {}) as Record<string, unknown>;
        }
        node[parts[parts.length - 1]] = value;
    }
    return out;
}

/** What the extension itself reads from `gemma.*`. */
export interface ClientSettings {
    serverCommand: string[];
    serverInterpreter: string;
    serverEnv: Record<string, string>;
    installSpec: string;
    inlineDebounceMs: number;
}

/** The extension's own settings, validated. */
export function clientSettings(config: ConfigReader): { settings: ClientSettings; problems: SettingProblem[] } {
    const { values, problems } = readSettings(config, 'client');
    return {
        settings: {
            serverCommand: values.get('server.command') as string[],
            serverInterpreter: values.get('server.interpreter') as string,
            serverEnv: values.get('server.env') as Record<string, string>,
            installSpec: values.get('server.installSpec') as string,
            inlineDebounceMs: values.get('inline.debounceMs') as number,
        },
        problems,
    };
}

/**
 * The `gemma` object the server receives (initializationOptions and didChangeConfiguration): only the
 * keys docs/protocol.md defines, nested, invalid ones replaced by their defaults.
 */
export function serverSettings(config: ConfigReader): { settings: Record<string, unknown>; problems: SettingProblem[] } {
    const { values, problems } = readSettings(config, 'server');
    return { settings: nest(values), problems };
}

/** initializationOptions for gemma-lsp: the server settings plus what this client can do itself. */
export function initializationOptions(config: ConfigReader): Record<string, unknown> {
    return { gemma: { ...serverSettings(config).settings, clientRendersExplanations: true } };
}

/** Whether inline completions are on for a language (`gemma.inline.enabled`, language-overridable). */
export function inlineEnabled(config: ConfigReader): boolean {
    return config.get<unknown>('inline.enabled') !== false;
}
