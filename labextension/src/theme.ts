/**
 * xterm.js options that follow the current JupyterLab theme.
 *
 * Colors are read from JupyterLab's CSS variables on <body>, so any theme
 * (light, dark, or third party) applies. The 16 ANSI colors are two fixed
 * palettes, chosen by `data-jp-theme-light`: the xterm defaults are made for
 * dark backgrounds and some of them are unreadable on white.
 */
import type { ITheme } from '@xterm/xterm';
import { ISignal, Signal } from '@lumino/signaling';

const DARK_ANSI = {
  black: '#1e1e1e',
  red: '#f14c4c',
  green: '#23d18b',
  yellow: '#f5f543',
  blue: '#3b8eea',
  magenta: '#d670d6',
  cyan: '#29b8db',
  white: '#cccccc',
  brightBlack: '#808080',
  brightRed: '#ff6b6b',
  brightGreen: '#5af78e',
  brightYellow: '#fffa8b',
  brightBlue: '#6cb6ff',
  brightMagenta: '#ff92df',
  brightCyan: '#9aedfe',
  brightWhite: '#ffffff'
};

const LIGHT_ANSI = {
  black: '#000000',
  red: '#c91b00',
  green: '#00a600',
  yellow: '#8a7a00',
  blue: '#0037da',
  magenta: '#a2169b',
  cyan: '#00838f',
  white: '#6e6e6e',
  brightBlack: '#555555',
  brightRed: '#e0342a',
  brightGreen: '#198a19',
  brightYellow: '#a08c00',
  brightBlue: '#2a5fe0',
  brightMagenta: '#b83cb0',
  brightCyan: '#00838f',
  brightWhite: '#2b2b2b'
};

function cssVar(style: CSSStyleDeclaration, name: string, fallback: string): string {
  const value = style.getPropertyValue(name).trim();
  return value || fallback;
}

/** Whether the current JupyterLab theme is a light one. */
export function isLightTheme(): boolean {
  return document.body.dataset.jpThemeLight !== 'false';
}

/** The xterm theme for the current JupyterLab theme. */
export function currentXtermTheme(): ITheme {
  const style = window.getComputedStyle(document.body);
  const light = isLightTheme();
  const background = cssVar(style, '--jp-layout-color0', light ? '#ffffff' : '#111111');
  const foreground = cssVar(style, '--jp-ui-font-color0', light ? '#000000' : '#ffffff');
  return {
    ...(light ? LIGHT_ANSI : DARK_ANSI),
    background,
    foreground,
    cursor: cssVar(style, '--jp-ui-font-color1', foreground),
    cursorAccent: background,
    selectionBackground: cssVar(
      style,
      '--jp-editor-selected-focused-background',
      light ? 'rgba(0, 90, 200, 0.25)' : 'rgba(120, 170, 255, 0.35)'
    ),
    selectionInactiveBackground: cssVar(
      style,
      '--jp-editor-selected-background',
      light ? 'rgba(0, 0, 0, 0.12)' : 'rgba(255, 255, 255, 0.18)'
    )
  };
}

/** The terminal font, from JupyterLab's code font variables. */
export function currentFont(): { fontFamily: string; fontSize: number } {
  const style = window.getComputedStyle(document.body);
  const family = cssVar(
    style,
    '--jp-code-font-family',
    "Menlo, Consolas, 'DejaVu Sans Mono', monospace"
  );
  const size = parseFloat(cssVar(style, '--jp-code-font-size', '13px'));
  return {
    fontFamily: family,
    fontSize: isFinite(size) && size > 4 ? size : 13
  };
}

/**
 * Emits when the JupyterLab theme may have changed. Fed both by the theme
 * manager (when available) and by a watch on <body>'s theme attributes.
 */
class ThemeWatcher {
  constructor() {
    if (typeof MutationObserver !== 'undefined' && typeof document !== 'undefined') {
      this._observer = new MutationObserver(() => this.notify());
      this._observer.observe(document.body, {
        attributes: true,
        attributeFilter: ['data-jp-theme-light', 'data-jp-theme-name']
      });
    }
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Schedule one notification (coalesced to the next animation frame). */
  notify(): void {
    if (this._pending) {
      return;
    }
    this._pending = true;
    requestAnimationFrame(() => {
      this._pending = false;
      this._changed.emit();
    });
  }

  private _changed = new Signal<this, void>(this);
  private _observer: MutationObserver | null = null;
  private _pending = false;
}

let watcher: ThemeWatcher | null = null;

/** The process-wide theme watcher. */
export function themeWatcher(): ThemeWatcher {
  if (!watcher) {
    watcher = new ThemeWatcher();
  }
  return watcher;
}
