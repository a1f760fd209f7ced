/**
 * The live list of containers and exec sessions, polled from the server.
 */
import { Poll } from '@lumino/polling';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { ApiError, IContainer, IExecSession, IpyOciApi } from './api';

export class ContainersModel implements IDisposable {
  constructor(options: ContainersModel.IOptions) {
    this.api = options.api;
    const interval = options.interval ?? 1500;
    this._poll = new Poll({
      factory: () => this._fetch(),
      frequency: { interval, backoff: true, max: 30 * 1000 },
      // Poll only while someone looks at the data.
      standby: () => this._watchers === 0 || 'when-hidden',
      name: 'ipy-oci:containers'
    });
  }

  readonly api: IpyOciApi;

  /** Emits after each refresh (and when a busy flag changes). */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get containers(): readonly IContainer[] {
    return this._containers;
  }

  get sessions(): readonly IExecSession[] {
    return this._sessions;
  }

  /** The last error, or null when the last refresh worked. */
  get error(): string | null {
    return this._error;
  }

  /** Whether at least one refresh has completed. */
  get loaded(): boolean {
    return this._loaded;
  }

  /** Time of the last successful refresh (ms since the epoch). */
  get updatedAt(): number {
    return this._updatedAt;
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  /** The exec sessions of one container. */
  sessionsOf(containerId: string): IExecSession[] {
    return this._sessions.filter(s => s.ContainerID === containerId);
  }

  /** The action under way for an id (container or session), if any. */
  busy(id: string): string | undefined {
    return this._busy.get(id);
  }

  /**
   * Register interest in live updates; the returned disposable unregisters.
   * Polling stands by while nobody watches.
   */
  watch(): IDisposable {
    this._watchers++;
    void this.refresh();
    let done = false;
    return {
      get isDisposed() {
        return done;
      },
      dispose: () => {
        if (!done) {
          done = true;
          this._watchers--;
        }
      }
    };
  }

  /** Refresh now. */
  async refresh(): Promise<void> {
    if (this.isDisposed) {
      return;
    }
    await this._poll.refresh();
    await this._poll.tick.catch(() => undefined);
  }

  /** Run an action flagged as busy on `id`, then refresh. */
  async run<T>(id: string, label: string, action: () => Promise<T>): Promise<T> {
    this._busy.set(id, label);
    this._changed.emit();
    try {
      return await action();
    } finally {
      this._busy.delete(id);
      this._changed.emit();
      void this.refresh();
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    Signal.clearData(this);
  }

  private async _fetch(): Promise<void> {
    try {
      const [containers, sessions] = await Promise.all([
        this.api.listContainers(),
        this.api.listExecSessions().catch((error: unknown) => {
          // Sessions are secondary: keep the container list if they fail.
          if (error instanceof ApiError && error.status === 404) {
            return [] as IExecSession[];
          }
          throw error;
        })
      ]);
      this._containers = Array.isArray(containers) ? containers : [];
      this._sessions = Array.isArray(sessions) ? sessions : [];
      this._error = null;
      this._loaded = true;
      this._updatedAt = Date.now();
      this._changed.emit();
    } catch (error) {
      this._error = (error as Error).message ?? String(error);
      this._loaded = true;
      this._changed.emit();
      throw error;
    }
  }

  private _poll: Poll;
  private _watchers = 0;
  private _containers: IContainer[] = [];
  private _sessions: IExecSession[] = [];
  private _error: string | null = null;
  private _loaded = false;
  private _updatedAt = 0;
  private _busy = new Map<string, string>();
  private _changed = new Signal<this, void>(this);
}

export namespace ContainersModel {
  export interface IOptions {
    api: IpyOciApi;
    /** Polling interval in ms (default 1500). */
    interval?: number;
  }
}
