/** Shows the {@link StatusModel} in a status bar item, re-rendered on every change. */
import * as vscode from 'vscode';
import { StatusModel } from './status';

export class StatusBar implements vscode.Disposable {
    private readonly item: vscode.StatusBarItem;

    constructor(private readonly model: StatusModel) {
        this.item = vscode.window.createStatusBarItem('gemma.status', vscode.StatusBarAlignment.Right, 100);
        this.item.name = 'Gemma';
        model.onChange(() => this.render());
        this.render();
        this.item.show();
    }

    /** Copies the model's current view onto the item. */
    render(): void {
        const view = this.model.view();
        this.item.text = view.text;
        this.item.tooltip = view.tooltip;
        this.item.command = view.command;
        this.item.backgroundColor = view.background ? new vscode.ThemeColor(`statusBarItem.${view.background}Background`) : undefined;
    }

    dispose(): void {
        this.item.dispose();
    }
}
