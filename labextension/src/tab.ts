/**
 * A main-area tab holding an exec terminal.
 *
 * A tab either owns its session (opened from the panel or the command: the
 * session is stopped when the tab is closed) or holds a terminal moved out of
 * a notebook output (closing the tab moves it back there).
 */
import { MainAreaWidget, ToolbarButton } from '@jupyterlab/apputils';
import { stopIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import { IpyOciApi, SESSION_STOP_TIMEOUT } from './api';
import { containerTerminalIcon } from './icons';
import { ExecTerminal, TerminalStatus } from './terminal';
import { exitBanner, tabTitle, uniqueLabel } from './util';

/** Something a terminal can be handed back to when its tab closes. */
export interface ITerminalHome {
  readonly isDisposed: boolean;
  takeBack(terminal: ExecTerminal): void;
}

let tabCounter = 0;
// Open tabs' numbers per base label: two tabs never share a title.
const labelNumbers = new Map<string, Set<number>>();

export class TerminalTab extends MainAreaWidget<Panel> {
  constructor(options: TerminalTab.IOptions) {
    const content = new Panel();
    content.addClass('jp-IpyOci-tabContent');
    super({ content });
    this.terminal = options.terminal;
    const taken = labelNumbers.get(options.label) ?? new Set<number>();
    labelNumbers.set(options.label, taken);
    const [label, number] = uniqueLabel(options.label, taken);
    taken.add(number);
    this._baseLabel = options.label;
    this._labelNumber = number;
    this.label = label;
    this._api = options.api;
    this._home = options.home ?? null;
    this._ownsSession = !!options.ownsSession;

    this.id = `ipy-oci-terminal-${++tabCounter}`;
    this.addClass('jp-IpyOci-terminalTab');
    this.title.icon = containerTerminalIcon;
    this.title.closable = true;
    this.title.label = label;

    this.terminal.suppressShortcuts = false;
    content.addWidget(this.terminal);

    const stop = new ToolbarButton({
      icon: stopIcon,
      label: 'Stop session',
      tooltip: 'Stop the process of this exec session',
      onClick: () => {
        void this._api.stopExec(this.terminal.sessionId, SESSION_STOP_TIMEOUT).catch(() => {
          /* already stopped */
        });
      }
    });
    stop.addClass('jp-IpyOci-stopSession');
    this.toolbar.addItem('stop', stop);
    this._stopButton = stop;
    if (this._home) {
      const back = new ToolbarButton({
        label: 'Move back to output',
        tooltip: 'Put this terminal back in the notebook output it came from',
        onClick: () => this.dispose()
      });
      this.toolbar.addItem('back', back);
    }
    this._statusNode = document.createElement('span');
    this._statusNode.className = 'jp-IpyOci-tabStatus';
    const status = new Widget({ node: this._statusNode });
    this.toolbar.addItem('spacer', new Widget({ node: document.createElement('span') }));
    this.toolbar.addItem('status', status);

    this.terminal.statusChanged.connect(this._onStatus, this);
    this._onStatus(this.terminal, this.terminal.status);
  }

  readonly terminal: ExecTerminal;
  readonly label: string;

  /** Whether closing the tab stops the session. */
  get ownsSession(): boolean {
    return this._ownsSession;
  }

  /** Whether this tab holds a terminal moved out of a notebook output. */
  get isMoved(): boolean {
    return this._home !== null;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    const terminal = this.terminal;
    terminal.statusChanged.disconnect(this._onStatus, this);
    labelNumbers.get(this._baseLabel)?.delete(this._labelNumber);
    const home = this._home;
    this._home = null;
    if (home && !home.isDisposed && !terminal.isDisposed) {
      // Hand the live terminal back: it leaves this tab's layout.
      home.takeBack(terminal);
    } else if (this._ownsSession && !terminal.ended) {
      void this._api.stopExec(terminal.sessionId, SESSION_STOP_TIMEOUT).catch(() => {
        /* already gone */
      });
    }
    super.dispose();
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    if (!this.terminal.isDisposed && this.terminal.parent === this.content) {
      this.terminal.activate();
    }
  }

  private _onStatus(_: ExecTerminal, status: TerminalStatus): void {
    let text: string = status;
    if (status === 'exited') {
      text = exitBanner(this.terminal.exitCode);
    } else if (status === 'missing') {
      text = 'session not found';
    }
    this._statusNode.textContent = text;
    this._statusNode.dataset.status = status;
    this.title.className = this.terminal.ended ? 'jp-IpyOci-endedTab' : '';
    this.title.label = tabTitle(this.label, this.terminal.ended, this.terminal.exitCode);
    this._stopButton.setHidden(this.terminal.ended);
    this.title.caption = `${this.label}\nexec session ${this.terminal.sessionId.slice(0, 12)}: ${text}`;
  }

  private _api: IpyOciApi;
  private _baseLabel: string;
  private _labelNumber: number;
  private _home: ITerminalHome | null;
  private _ownsSession: boolean;
  private _statusNode: HTMLSpanElement;
  private _stopButton!: Widget;
}

export namespace TerminalTab {
  export interface IOptions {
    terminal: ExecTerminal;
    label: string;
    api: IpyOciApi;
    /** Where the terminal goes back when the tab closes. */
    home?: ITerminalHome;
    /** Stop the session when the tab closes. */
    ownsSession?: boolean;
  }
}
