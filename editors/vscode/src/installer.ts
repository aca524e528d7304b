/**
 * "Install gemma-lsp for me": creates a virtual environment in the extension's global storage and
 * pip-installs `gemma.server.installSpec` into it, with a cancellable progress notification and the
 * pip output in the log. Nothing is installed without the user clicking Install.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { whichSync } from './discovery';
import { managedEnvDir, selectedPythonInterpreter } from './python';

/** The commands that set the environment up, in order. */
export function installSteps(basePython: string, venvDir: string, spec: string): { title: string; argv: string[] }[] {
    const python = process.platform === 'win32' ? path.join(venvDir, 'Scripts', 'python.exe') : path.join(venvDir, 'bin', 'python');
    return [
        { title: 'Creating a virtual environment', argv: [basePython, '-m', 'venv', venvDir] },
        { title: 'Upgrading pip', argv: [python, '-m', 'pip', 'install', '--upgrade', 'pip'] },
        { title: `Installing ${spec}`, argv: [python, '-m', 'pip', 'install', '--upgrade', spec] },
    ];
}

/** Runs one command, streaming its output to `log`; rejects on a non-zero exit or cancellation. */
function run(argv: string[], log: vscode.LogOutputChannel, token: vscode.CancellationToken): Promise<void> {
    return new Promise((resolve, reject) => {
        log.info(`$ ${argv.join(' ')}`);
        const child: ChildProcess = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
        const sub = token.onCancellationRequested(() => child.kill());
        const forward = (data: Buffer): void => {
            for (const line of data.toString().split(/\r?\n/)) if (line.trim()) log.info(line);
        };
        child.stdout?.on('data', forward);
        child.stderr?.on('data', forward);
        child.on('error', (error) => {
            sub.dispose();
            reject(error);
        });
        child.on('close', (code) => {
            sub.dispose();
            if (token.isCancellationRequested) reject(new vscode.CancellationError());
            else if (code === 0) resolve();
            else reject(new Error(`${path.basename(argv[0])} exited with code ${code}`));
        });
    });
}

/** Asks the user, then installs; resolves true when the environment is ready. */
export async function offerInstall(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, spec: string): Promise<boolean> {
    const choice = await vscode.window.showInformationMessage(
        'Gemma: the gemma-lsp server was not found. Install it into a private environment for this extension?',
        'Install', 'Open Settings', 'Show Logs',
    );
    if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'gemma.server');
    if (choice === 'Show Logs') log.show();
    if (choice !== 'Install') return false;

    const basePython = (await selectedPythonInterpreter()) ?? whichSync('python3') ?? whichSync('python');
    if (!basePython) {
        void vscode.window.showErrorMessage('Gemma: no Python 3 found to create the environment. Install Python 3.10+ or set gemma.server.interpreter.');
        return false;
    }
    const steps = installSteps(basePython, managedEnvDir(context), spec);
    try {
        await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Notification, title: 'Gemma: installing the server', cancellable: true },
            async (progress, token) => {
                for (const [i, step] of steps.entries()) {
                    progress.report({ message: `${step.title} (${i + 1}/${steps.length})`, increment: 100 / steps.length });
                    await run(step.argv, log, token);
                }
            },
        );
        void vscode.window.showInformationMessage('Gemma: gemma-lsp is installed.');
        return true;
    } catch (error) {
        if (error instanceof vscode.CancellationError) {
            log.warn('Installation cancelled.');
            return false;
        }
        log.error(`Installation failed: ${String(error)}`);
        void vscode.window.showErrorMessage(`Gemma: installing gemma-lsp failed: ${String(error)}`, 'Show Logs').then((c) => {
            if (c) log.show();
        });
        return false;
    }
}
