/**
 * One webview beside the editor that shows the latest explanation or debug answer as rendered
 * markdown (scripts disabled). Reused, so answers do not pile up as tabs.
 */
import * as vscode from 'vscode';
import { renderPage } from './markdown';

export class ResultPanel implements vscode.Disposable {
    private panel: vscode.WebviewPanel | undefined;

    /** Shows `markdown` under `title` beside the active editor, keeping the focus in the editor. */
    show(title: string, markdown: string): void {
        if (!this.panel) {
            this.panel = vscode.window.createWebviewPanel(
                'gemma.result',
                title,
                { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
                { enableScripts: false, enableFindWidget: true },
            );
            this.panel.onDidDispose(() => (this.panel = undefined));
        } else {
            this.panel.reveal(vscode.ViewColumn.Beside, true);
        }
        this.panel.title = title;
        this.panel.webview.html = renderPage(title, markdown, this.panel.webview.cspSource);
    }

    dispose(): void {
        this.panel?.dispose();
    }
}
