/**
 * Client of the ipy-oci server extension REST API (`{baseUrl}ipy-oci/api/`).
 *
 * Every request goes through `ServerConnection.makeRequest`, which adds the
 * token and the XSRF header the server checks on state-changing requests.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { attachUrl } from './util';

/**
 * Seconds between SIGTERM and SIGKILL when the UI stops an exec session: an
 * interactive shell ignores SIGTERM, so the server's default grace (10 s) is
 * only a wait.
 */
export const SESSION_STOP_TIMEOUT = 2;

/** One row of `GET containers`. */
export interface IContainer {
  Id: string;
  Names: string[];
  Image: string;
  ImageID?: string;
  Command?: string[] | string | null;
  Created?: string | number;
  State: string;
  Status?: string;
  Pid?: number;
  ExitCode?: number;
  Exited?: boolean;
  StartedAt?: string | number;
  ExitedAt?: string | number;
  Labels?: Record<string, string> | null;
  AutoRemove?: boolean;
  ExecSessions?: number;
  /** Published ports, as `ps --format json` lists them. */
  Ports?: IPortMapping[] | null;
  /** Live usage (asked with ?stats=1): CPU % between two polls, memory bytes. */
  Stats?: IUsage | null;
  /** Where a `run --slurm` container runs (empty strings for a local one). */
  Slurm?: ISlurmPlacement | null;
}

export interface ISlurmPlacement {
  JobId: string;
  Node: string;
  Partition: string;
}

export interface IUsage {
  /** False where containers have no cgroup (rootless on cgroup v1). */
  Available: boolean;
  CPUPerc: number | null;
  MemUsage: number | null;
}

/** One published port (range) of a container, podman's `ps` JSON shape. */
export interface IPortMapping {
  host_ip?: string;
  container_port: number;
  host_port: number;
  range?: number;
  protocol?: string;
}

/** One exec session, as `GET exec` and `GET exec/{sid}` answer. */
export interface IExecSession {
  ID: string;
  ContainerID: string;
  Running: boolean;
  State: 'created' | 'running' | 'stopped' | string;
  ExitCode?: number | null;
  Pid?: number;
  CreatedAt?: string | number;
  StartedAt?: string | number;
  FinishedAt?: string | number;
  ProcessConfig?: {
    entrypoint?: string;
    arguments?: string[];
    tty?: boolean;
    user?: string;
    workdir?: string;
  };
  Owner?: { Pid?: number | null; Kernel?: string | null } | null;
}

/** Options of `POST containers/{id}/exec`. */
export interface IExecCreateOptions {
  Cmd: string[];
  Tty?: boolean;
  Env?: string[];
  User?: string;
  WorkingDir?: string;
}

/** An error answered by the API (JSON `{"message": ...}`) or the network. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The REST client. One per application; cheap to create. */
export class IpyOciApi {
  constructor(settings?: ServerConnection.ISettings) {
    this.serverSettings = settings ?? ServerConnection.makeSettings();
  }

  readonly serverSettings: ServerConnection.ISettings;

  /** Perform a request and decode its JSON answer (null for an empty body). */
  async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const url = URLExt.join(this.serverSettings.baseUrl, 'ipy-oci', 'api', path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(
        url,
        init,
        this.serverSettings
      );
    } catch (error) {
      throw new ApiError(
        `Cannot reach the server: ${(error as Error).message ?? error}`,
        0
      );
    }
    const text = await response.text();
    let body: unknown = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (!response.ok) {
      let message = '';
      if (body && typeof body === 'object' && 'message' in body) {
        message = String((body as { message: unknown }).message);
      } else if (typeof body === 'string' && body.length < 300) {
        message = body;
      }
      if (!message) {
        message =
          response.status === 404 && path === 'containers'
            ? 'The ipy-oci server extension is not enabled'
            : `${response.status} ${response.statusText}`;
      }
      throw new ApiError(message, response.status);
    }
    return body as T;
  }

  private _post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>(path, {
      method: 'POST',
      body: body === undefined ? undefined : JSON.stringify(body),
      headers:
        body === undefined ? undefined : { 'Content-Type': 'application/json' }
    });
  }

  private static _id(id: string): string {
    return encodeURIComponent(id);
  }

  listContainers(): Promise<IContainer[]> {
    return this.request<IContainer[]>('containers?stats=1').then(r => r ?? []);
  }

  inspectContainer(id: string): Promise<Record<string, unknown>> {
    return this.request(`containers/${IpyOciApi._id(id)}`);
  }

  containerAction(
    id: string,
    action: 'start' | 'stop' | 'kill' | 'pause' | 'unpause',
    timeout?: number
  ): Promise<unknown> {
    const query =
      action === 'stop' && timeout !== undefined ? `?t=${timeout}` : '';
    return this._post(`containers/${IpyOciApi._id(id)}/${action}${query}`);
  }

  removeContainer(id: string, force = true): Promise<unknown> {
    return this.request(
      `containers/${IpyOciApi._id(id)}${force ? '?force=1' : ''}`,
      { method: 'DELETE' }
    );
  }

  /** Create an exec session (not started: attaching starts it). */
  async createExec(id: string, options: IExecCreateOptions): Promise<string> {
    const body = {
      Cmd: options.Cmd,
      Tty: options.Tty ?? true,
      Env: options.Env ?? [],
      User: options.User ?? '',
      WorkingDir: options.WorkingDir ?? ''
    };
    const reply = await this._post<{ Id?: string; ID?: string }>(
      `containers/${IpyOciApi._id(id)}/exec`,
      body
    );
    const sid = reply?.Id ?? reply?.ID;
    if (!sid) {
      throw new ApiError('The server did not return an exec session id', 500);
    }
    return sid;
  }

  listExecSessions(): Promise<IExecSession[]> {
    return this.request<IExecSession[]>('exec').then(r => r ?? []);
  }

  inspectExec(sid: string): Promise<IExecSession> {
    return this.request<IExecSession>(`exec/${IpyOciApi._id(sid)}`);
  }

  /** Stop an exec session: SIGTERM, then SIGKILL after `timeout` seconds. */
  stopExec(sid: string, timeout?: number): Promise<unknown> {
    const query = timeout !== undefined ? `?t=${timeout}` : '';
    return this._post(`exec/${IpyOciApi._id(sid)}/stop${query}`);
  }

  resizeExec(sid: string, rows: number, cols: number): Promise<unknown> {
    return this._post(`exec/${IpyOciApi._id(sid)}/resize`, {
      h: rows,
      w: cols
    });
  }

  listImages(): Promise<unknown[]> {
    return this.request<unknown[]>('images').then(r => r ?? []);
  }

  /** The websocket URL that attaches to an exec session's terminal. */
  attachUrl(sid: string): string {
    const s = this.serverSettings;
    return attachUrl(s.wsUrl, sid, s.token, s.appendToken);
  }
}
