/**
 * Finding the gemma-lsp server: the first of the `gemma.server.command` setting, the
 * `gemma.server.interpreter` setting, a `gemma-lsp` on PATH, the Python interpreter selected in the
 * Python extension (when gemma_lsp imports there), and the extension's own virtual environment.
 * The probes that touch the system are passed in, so the order of the search is tested on its own.
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';

/** Where the command came from; shown in the log and the status tooltip. */
export type ServerSource = 'setting' | 'interpreterSetting' | 'path' | 'pythonExtension' | 'managedEnv';

export interface ServerCommand {
    command: string;
    args: string[];
    source: ServerSource;
}

/** The system lookups discovery needs. */
export interface DiscoveryProbes {
    /** Absolute path of `name` on PATH, or undefined. */
    which(name: string): Promise<string | undefined>;
    /** The interpreter selected in the Python extension, if that extension is installed. */
    selectedPython(): Promise<string | undefined>;
    /** Whether `python -c "import gemma_lsp"` succeeds. */
    canImport(python: string, module: string): Promise<boolean>;
    /** The Python of the extension-managed environment, when it exists. */
    managedPython(): Promise<string | undefined>;
}

const MODULE = 'gemma_lsp';

/** `<python> -m gemma_lsp`. */
export function pythonModuleCommand(python: string, source: ServerSource): ServerCommand {
    return { command: python, args: ['-m', MODULE], source };
}

/**
 * Returns how to start the server, or undefined when none was found (the caller offers to install).
 * The explicit settings win even when they point at nothing: the start then fails with the
 * setting named in the error, which is clearer than silently running another server.
 */
export async function discoverServer(
    settings: { serverCommand: string[]; serverInterpreter: string },
    probes: DiscoveryProbes,
): Promise<ServerCommand | undefined> {
    if (settings.serverCommand.length > 0) {
        const [command, ...args] = settings.serverCommand;
        return { command, args, source: 'setting' };
    }
    if (settings.serverInterpreter) {
        return pythonModuleCommand(settings.serverInterpreter, 'interpreterSetting');
    }
    const onPath = await probes.which('gemma-lsp');
    if (onPath) {
        return { command: onPath, args: [], source: 'path' };
    }
    const selected = await probes.selectedPython();
    if (selected && (await probes.canImport(selected, MODULE))) {
        return pythonModuleCommand(selected, 'pythonExtension');
    }
    const managed = await probes.managedPython();
    if (managed && (await probes.canImport(managed, MODULE))) {
        return pythonModuleCommand(managed, 'managedEnv');
    }
    return undefined;
}

/** Looks `name` up on a PATH string the way a shell does (first executable file wins). */
export function whichSync(name: string, pathVar: string | undefined = process.env.PATH): string | undefined {
    for (const dir of (pathVar ?? '').split(path.delimiter)) {
        if (!dir) continue;
        const candidate = path.join(dir, name);
        try {
            const st = statSync(candidate);
            if (st.isFile() && (st.mode & 0o111) !== 0) return candidate;
        } catch {
            // not here; keep looking
        }
    }
    return undefined;
}

/** The Python inside a virtual environment folder (POSIX or Windows layout), when present. */
export function venvPython(venvDir: string): string | undefined {
    const candidates = [path.join(venvDir, 'bin', 'python'), path.join(venvDir, 'Scripts', 'python.exe')];
    return candidates.find((p) => existsSync(p));
}

/** Runs `python -c "import module"`; true when it exits 0 within 20 s. */
export function canImportModule(python: string, module: string, env?: NodeJS.ProcessEnv): Promise<boolean> {
    return new Promise((resolve) => {
        execFile(python, ['-c', `import ${module}`], { timeout: 20_000, env }, (error) => resolve(!error));
    });
}
