/**
 * Python environments: the interpreter selected in the Python extension, and the extension's own
 * virtual environment (in its global storage) that "install the server" creates.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DiscoveryProbes, canImportModule, venvPython, whichSync } from './discovery';

/** The part of the Python extension's API used here (`ms-python.python` exports `environments`). */
interface PythonApi {
    environments?: {
        getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
        resolveEnvironment(env: { path: string }): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    };
}

/** The interpreter selected in the Python extension, or undefined when it is absent or says nothing. */
export async function selectedPythonInterpreter(): Promise<string | undefined> {
    try {
        const extension = vscode.extensions.getExtension<PythonApi>('ms-python.python');
        if (!extension) return undefined;
        const api = extension.isActive ? extension.exports : await extension.activate();
        const envs = api?.environments;
        if (!envs) return undefined;
        const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
        const resolved = await envs.resolveEnvironment(envs.getActiveEnvironmentPath(resource));
        return resolved?.executable.uri?.fsPath;
    } catch {
        return undefined;
    }
}

/** Folder of the extension-managed virtual environment. */
export function managedEnvDir(context: vscode.ExtensionContext): string {
    return path.join(context.globalStorageUri.fsPath, 'venv');
}

/** Discovery probes backed by the real system. */
export function systemProbes(context: vscode.ExtensionContext, env: Record<string, string>): DiscoveryProbes {
    const fullEnv = { ...process.env, ...env };
    return {
        which: (name) => Promise.resolve(whichSync(name, fullEnv.PATH)),
        selectedPython: selectedPythonInterpreter,
        canImport: (python, module) => canImportModule(python, module, fullEnv),
        managedPython: () => Promise.resolve(venvPython(managedEnvDir(context))),
    };
}
