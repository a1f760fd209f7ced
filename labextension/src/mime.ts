/**
 * The renderer of `application/vnd.ipy-oci.exec+json` outputs: an exec
 * terminal in the output area, with a button that moves it to a tab.
 */
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { launchIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { PanelLayout, Widget } from '@lumino/widgets';

import { IpyOciApi } from './api';
import { containerTerminalIcon } from './icons';
import { ITerminalHome, TerminalTab } from './tab';
import { ExecTerminal, TerminalStatus } from './terminal';
import {
  EXEC_MIME_TYPE,
  exitBanner,
  IExecOutputData,
  parseExecOutput,
  shortId,
  terminalLabel
} from './util';

/** What the renderer needs from the application. */
export interface IExecOutputContext {
  api: IpyOciApi;
  /** Show a tab in the main area. */
  showTab(tab: TerminalTab): void;
}

export class ExecOutputWidget extends Widget implements IRenderMime.IRenderer, ITerminalHome {
  constructor(options: IRenderMime.IRendererOptions, context: IExecOutputContext) {
    super();
    this._mimeType = options.mimeType;
    this._context = context;
    this.addClass('jp-IpyOci-execOutput');
    this.layout = new PanelLayout();

    this._header = new Widget();
    this._header.addClass('jp-IpyOci-execHeader');
    (this.layout as PanelLayout).addWidget(this._header);
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = parseExecOutput(model.data[this._mimeType]);
    if (!data) {
      this._renderInvalid();
      return;
    }
    if (this._data && this._data.session_id === data.session_id) {
      return;
    }
    this._data = data;
    this._dropTerminal();
    this.node.dataset.sessionId = data.session_id;
    this._label = terminalLabel(
      data.container_name ?? shortId(data.container_id),
      data.command
    );
    this._terminal = new ExecTerminal({
      sessionId: data.session_id,
      api: this._context.api,
      suppressShortcuts: true
    });
    this._terminal.statusChanged.connect(this._onStatus, this);
    (this.layout as PanelLayout).addWidget(this._terminal);
    this._renderHeader();
  }

  /** Move the terminal to a main-area tab. */
  openInTab(): void {
    const terminal = this._terminal;
    if (!terminal || this._tab) {
      if (this._tab && !this._tab.isDisposed) {
        this._context.showTab(this._tab);
      }
      return;
    }
    // Detach through `parent` (not `layout.removeWidget`), so that the widget
    // forgets its parent before the tab adopts it.
    terminal.parent = null;
    this._tab = new TerminalTab({
      terminal,
      label: this._label,
      api: this._context.api,
      home: this
    });
    this._tab.disposed.connect(() => {
      this._tab = null;
      this._renderHeader();
    });
    this._renderHeader();
    this._context.showTab(this._tab);
  }

  /** The tab closed: the terminal comes back into the output. */
  takeBack(terminal: ExecTerminal): void {
    if (terminal !== this._terminal) {
      terminal.dispose();
      return;
    }
    terminal.suppressShortcuts = true;
    (this.layout as PanelLayout).addWidget(terminal);
    this._tab = null;
    this._renderHeader();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    // A terminal that lives in a tab stays there; it is no longer ours.
    this._terminal?.statusChanged.disconnect(this._onStatus, this);
    this._terminal = null;
    super.dispose();
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    if (this._terminal && !this._tab) {
      this._terminal.activate();
    }
  }

  private _dropTerminal(): void {
    if (this._terminal) {
      this._terminal.statusChanged.disconnect(this._onStatus, this);
      if (!this._tab) {
        this._terminal.dispose();
      }
      this._terminal = null;
    }
  }

  private _onStatus(_: ExecTerminal, __: TerminalStatus): void {
    this._renderHeader();
  }

  private _renderHeader(): void {
    const node = this._header.node;
    node.textContent = '';
    const title = document.createElement('span');
    title.className = 'jp-IpyOci-execTitle';
    const icon = containerTerminalIcon.element({
      tag: 'span',
      className: 'jp-IpyOci-execIcon'
    });
    title.appendChild(icon);
    const text = document.createElement('span');
    text.textContent = this._label;
    title.appendChild(text);
    node.appendChild(title);

    const status = document.createElement('span');
    status.className = 'jp-IpyOci-execStatus';
    const t = this._terminal;
    if (t) {
      status.dataset.status = t.status;
      status.textContent =
        t.status === 'exited'
          ? exitBanner(t.exitCode).replace(/^Session /, '')
          : t.status === 'missing'
            ? 'session not found'
            : t.status;
    }
    node.appendChild(status);

    const spacer = document.createElement('span');
    spacer.className = 'jp-IpyOci-spacer';
    node.appendChild(spacer);

    if (this._tab) {
      const moved = document.createElement('span');
      moved.className = 'jp-IpyOci-movedNote';
      moved.textContent = 'Open in a tab';
      node.appendChild(moved);
      node.appendChild(
        this._button('Show tab', 'show-tab', () => {
          if (this._tab) {
            this._context.showTab(this._tab);
          }
        })
      );
      node.appendChild(
        this._button('Bring back here', 'bring-back', () => this._tab?.dispose())
      );
    } else if (t) {
      const open = this._button('Open in tab', 'open-in-tab', () => this.openInTab());
      open.prepend(launchIcon.element({ tag: 'span', className: 'jp-IpyOci-buttonIcon' }));
      node.appendChild(open);
    }
  }

  private _button(label: string, action: string, onClick: () => void): HTMLButtonElement {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'jp-IpyOci-button jp-mod-styled';
    button.dataset.action = action;
    button.textContent = label;
    button.addEventListener('click', event => {
      event.preventDefault();
      event.stopPropagation();
      onClick();
    });
    return button;
  }

  private _renderInvalid(): void {
    this._dropTerminal();
    this._data = null;
    this._header.node.textContent =
      'ipy-oci: this output has no valid exec session id.';
  }

  private _mimeType: string;
  private _context: IExecOutputContext;
  private _header: Widget;
  private _data: IExecOutputData | null = null;
  private _label = '';
  private _terminal: ExecTerminal | null = null;
  private _tab: TerminalTab | null = null;
}

/** The renderer factory, registered by the main plugin. */
export function createRendererFactory(
  context: IExecOutputContext
): IRenderMime.IRendererFactory {
  return {
    // Not "safe": an untrusted notebook does not get a live shell; it falls
    // back to the output's text/plain.
    safe: false,
    mimeTypes: [EXEC_MIME_TYPE],
    defaultRank: 0,
    createRenderer: options => new ExecOutputWidget(options, context)
  };
}
