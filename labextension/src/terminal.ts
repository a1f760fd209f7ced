/**
 * An xterm.js terminal attached to an ipy-oci exec session over the attach
 * websocket (`{wsUrl}ipy-oci/api/exec/{sid}/attach`).
 *
 * Protocol (JSON text frames, as terminado): the client sends
 * `["stdin", text]` and `["set_size", rows, cols]`; the server sends
 * `["stdout", text]` and `["exit", code]`, then closes. Attaching to a
 * created session starts it; on reconnect the server replays recent output.
 */
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { ApiError, IpyOciApi } from './api';
import { currentFont, currentXtermTheme, themeWatcher } from './theme';
import { exitBanner, parseAttachMessage, reconnectDelay } from './util';

/** Where a terminal is in its life. */
export type TerminalStatus =
  | 'connecting'
  | 'connected'
  | 'reconnecting'
  | 'exited'
  | 'missing';

/** Input queued while the socket is (re)connecting is capped to this size. */
const MAX_PENDING_INPUT = 1 << 20;

export class ExecTerminal extends Widget {
  constructor(options: ExecTerminal.IOptions) {
    super();
    this.sessionId = options.sessionId;
    this._api = options.api;
    this.addClass('jp-IpyOci-terminal');
    this.node.dataset.sessionId = options.sessionId;
    // Inside a notebook output, JupyterLab's keyboard shortcuts (Shift+Enter,
    // Escape, command-mode letters...) must not steal the terminal's keys.
    this.suppressShortcuts = !!options.suppressShortcuts;

    this._host = document.createElement('div');
    this._host.className = 'jp-IpyOci-terminalHost';
    this._banner = document.createElement('div');
    this._banner.className = 'jp-IpyOci-terminalBanner';
    this._banner.setAttribute('role', 'status');
    this._banner.hidden = true;
    this.node.appendChild(this._host);
    this.node.appendChild(this._banner);

    const font = currentFont();
    this._term = new Terminal({
      cursorBlink: true,
      scrollback: 5000,
      fontFamily: font.fontFamily,
      fontSize: font.fontSize,
      lineHeight: 1.0,
      theme: currentXtermTheme()
    });
    this._fit = new FitAddon();
    this._term.loadAddon(this._fit);
    this._term.onData(data => this._sendInput(data));
    this._term.onBinary(data => this._sendInput(data));
    this._term.onTitleChange(title => this._titleChanged.emit(title));

    themeWatcher().changed.connect(this._onThemeChanged, this);

    if (typeof ResizeObserver !== 'undefined') {
      this._resizeObserver = new ResizeObserver(() => this._scheduleFit());
      this._resizeObserver.observe(this.node);
    }
  }

  /** The exec session this terminal is attached to. */
  readonly sessionId: string;

  /** The xterm.js terminal (exposed for tests and advanced use). */
  get xterm(): Terminal {
    return this._term;
  }

  get status(): TerminalStatus {
    return this._status;
  }

  /** Emits when `status` changes. */
  get statusChanged(): ISignal<this, TerminalStatus> {
    return this._statusChanged;
  }

  /** Emits when the program in the terminal sets its title. */
  get titleChanged(): ISignal<this, string> {
    return this._titleChanged;
  }

  /** The exit code, once the session has ended (null when unknown). */
  get exitCode(): number | null | undefined {
    return this._exitCode;
  }

  /** Whether the session is over (exited, or gone from the server). */
  get ended(): boolean {
    return this._status === 'exited' || this._status === 'missing';
  }

  /**
   * Whether JupyterLab keyboard shortcuts are kept away from the terminal
   * (wanted inside notebook outputs, not in a main-area tab).
   */
  get suppressShortcuts(): boolean {
    return this.node.hasAttribute('data-lm-suppress-shortcuts');
  }
  set suppressShortcuts(value: boolean) {
    if (value) {
      this.node.setAttribute('data-lm-suppress-shortcuts', 'true');
    } else {
      this.node.removeAttribute('data-lm-suppress-shortcuts');
    }
  }

  /** Send text to the process, as if typed. */
  paste(text: string): void {
    this._sendInput(text);
  }

  /** Fit the terminal to its box now. */
  fit(): void {
    this._doFit();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    themeWatcher().changed.disconnect(this._onThemeChanged, this);
    this._resizeObserver?.disconnect();
    this._resizeObserver = null;
    if (this._reconnectTimer) {
      clearTimeout(this._reconnectTimer);
      this._reconnectTimer = 0;
    }
    this._closeSocket();
    this._term.dispose();
    super.dispose();
    Signal.clearData(this);
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (!this._opened) {
      this._opened = true;
      this._term.open(this._host);
      this._doFit();
    }
    this._scheduleFit();
    if (!this._started) {
      this._started = true;
      this._connect();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._scheduleFit();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this._scheduleFit();
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this._term.focus();
  }

  // ---- websocket -------------------------------------------------------

  private _connect(): void {
    if (this.isDisposed || this.ended) {
      return;
    }
    this._setStatus(this._everConnected ? 'reconnecting' : 'connecting');
    const settings = this._api.serverSettings;
    const ws = new settings.WebSocket(this._api.attachUrl(this.sessionId));
    ws.binaryType = 'arraybuffer';
    this._ws = ws;
    // After a reconnection the server replays recent output: start from a
    // clean screen so it is not drawn twice.
    this._resetOnData = this._everConnected;

    ws.onopen = () => {
      if (this._ws !== ws) {
        return;
      }
      this._attempt = 0;
      this._everConnected = true;
      this._setStatus('connected');
      this._lastSize = null;
      this._doFit();
      this._sendSize(true);
      if (this._pending) {
        const pending = this._pending;
        this._pending = '';
        this._send(['stdin', pending]);
      }
    };
    ws.onmessage = (event: MessageEvent) => {
      if (this._ws !== ws) {
        return;
      }
      this._onMessage(event.data);
    };
    ws.onclose = () => {
      if (this._ws !== ws) {
        return;
      }
      this._ws = null;
      void this._onConnectionLost();
    };
  }

  private _onMessage(data: unknown): void {
    if (typeof data !== 'string') {
      // Not part of the protocol, but harmless: raw output bytes.
      if (data instanceof ArrayBuffer) {
        this._write(new Uint8Array(data));
      }
      return;
    }
    const msg = parseAttachMessage(data);
    switch (msg.kind) {
      case 'stdout':
        this._write(msg.data);
        break;
      case 'exit':
        this._setEnded('exited', msg.code);
        break;
      case 'error':
        this._showBanner(msg.message || 'Error', 'error');
        break;
      case 'disconnect':
        this._closeSocket();
        void this._onConnectionLost();
        break;
      default:
        break;
    }
  }

  private _write(data: string | Uint8Array): void {
    if (this._resetOnData) {
      this._resetOnData = false;
      this._term.reset();
    }
    this._term.write(data);
  }

  /**
   * The socket closed without an exit message: ask the server what became of
   * the session, then either show why it ended or reconnect.
   */
  private async _onConnectionLost(): Promise<void> {
    if (this.isDisposed || this.ended) {
      return;
    }
    try {
      const info = await this._api.inspectExec(this.sessionId);
      if (this.isDisposed || this.ended) {
        return;
      }
      if (info.State === 'stopped' || (info.State !== 'created' && !info.Running)) {
        this._setEnded('exited', info.ExitCode ?? null);
        return;
      }
    } catch (error) {
      if (this.isDisposed || this.ended) {
        return;
      }
      if (error instanceof ApiError && error.status === 404) {
        this._setEnded('missing', null);
        return;
      }
    }
    this._setStatus('reconnecting');
    const delay = reconnectDelay(this._attempt++);
    this._showBanner('Connection lost, reconnecting…', 'warn');
    this._reconnectTimer = window.setTimeout(() => {
      this._reconnectTimer = 0;
      this._connect();
    }, delay);
  }

  private _send(msg: unknown[]): boolean {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return false;
    }
    ws.send(JSON.stringify(msg));
    return true;
  }

  private _sendInput(data: string): void {
    if (this.ended) {
      return;
    }
    if (!this._send(['stdin', data])) {
      if (this._pending.length + data.length <= MAX_PENDING_INPUT) {
        this._pending += data;
      }
    }
  }

  private _sendSize(force = false): void {
    const rows = this._term.rows;
    const cols = this._term.cols;
    if (
      !force &&
      this._lastSize &&
      this._lastSize[0] === rows &&
      this._lastSize[1] === cols
    ) {
      return;
    }
    if (this._send(['set_size', rows, cols])) {
      this._lastSize = [rows, cols];
    }
  }

  private _closeSocket(): void {
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        // Already closed.
      }
    }
  }

  // ---- state -----------------------------------------------------------

  private _setEnded(status: 'exited' | 'missing', code: number | null): void {
    if (this.ended) {
      return;
    }
    this._exitCode = code;
    this._pending = '';
    if (this._reconnectTimer) {
      clearTimeout(this._reconnectTimer);
      this._reconnectTimer = 0;
    }
    this._term.options.disableStdin = true;
    this._term.options.cursorBlink = false;
    // Hide the cursor (DECTCEM): nothing can be typed any more.
    this._term.write('\x1b[?25l');
    this._showBanner(
      status === 'missing'
        ? 'Session not found: it has ended or was removed'
        : exitBanner(code),
      status === 'exited' && code === 0 ? 'info' : 'warn'
    );
    this.addClass('jp-mod-ended');
    this._setStatus(status);
  }

  private _setStatus(status: TerminalStatus): void {
    if (status === 'connected') {
      this._hideBanner();
    }
    if (this._status !== status) {
      this._status = status;
      this.node.dataset.status = status;
      this._statusChanged.emit(status);
    }
  }

  private _showBanner(text: string, level: 'info' | 'warn' | 'error'): void {
    this._banner.textContent = text;
    this._banner.dataset.level = level;
    this._banner.hidden = false;
    this._scheduleFit();
  }

  private _hideBanner(): void {
    if (!this._banner.hidden) {
      this._banner.hidden = true;
      this._scheduleFit();
    }
  }

  // ---- layout and theme ------------------------------------------------

  private _scheduleFit(): void {
    if (this._fitFrame || this.isDisposed) {
      return;
    }
    this._fitFrame = requestAnimationFrame(() => {
      this._fitFrame = 0;
      this._doFit();
    });
  }

  private _doFit(): void {
    if (!this._opened || this.isDisposed || !this.isVisible) {
      return;
    }
    if (this._host.clientWidth === 0 || this._host.clientHeight === 0) {
      return;
    }
    const dims = this._fit.proposeDimensions();
    if (!dims || !isFinite(dims.cols) || !isFinite(dims.rows)) {
      return;
    }
    const cols = Math.max(2, dims.cols);
    const rows = Math.max(1, dims.rows);
    if (cols !== this._term.cols || rows !== this._term.rows) {
      this._term.resize(cols, rows);
    }
    this._sendSize();
  }

  private _onThemeChanged(): void {
    this._term.options.theme = currentXtermTheme();
    const font = currentFont();
    if (
      font.fontFamily !== this._term.options.fontFamily ||
      font.fontSize !== this._term.options.fontSize
    ) {
      this._term.options.fontFamily = font.fontFamily;
      this._term.options.fontSize = font.fontSize;
      this._scheduleFit();
    }
  }

  private _api: IpyOciApi;
  private _term: Terminal;
  private _fit: FitAddon;
  private _host: HTMLDivElement;
  private _banner: HTMLDivElement;
  private _ws: WebSocket | null = null;
  private _opened = false;
  private _started = false;
  private _everConnected = false;
  private _resetOnData = false;
  private _attempt = 0;
  private _reconnectTimer = 0;
  private _fitFrame = 0;
  private _pending = '';
  private _lastSize: [number, number] | null = null;
  private _status: TerminalStatus = 'connecting';
  private _exitCode: number | null | undefined = undefined;
  private _resizeObserver: ResizeObserver | null = null;
  private _statusChanged = new Signal<this, TerminalStatus>(this);
  private _titleChanged = new Signal<this, string>(this);
}

export namespace ExecTerminal {
  export interface IOptions {
    /** The exec session to attach to. */
    sessionId: string;
    /** The REST client (gives the server settings and URLs). */
    api: IpyOciApi;
    /** Keep JupyterLab keyboard shortcuts away from the terminal. */
    suppressShortcuts?: boolean;
  }
}
