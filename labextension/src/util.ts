/**
 * Small pure helpers, free of DOM and JupyterLab imports so that they can be
 * unit-tested under plain Node (see test/).
 */

/** The MIME type the `%oci exec -it` magic produces. */
export const EXEC_MIME_TYPE = 'application/vnd.ipy-oci.exec+json';

/** The data of an `application/vnd.ipy-oci.exec+json` output. */
export interface IExecOutputData {
  session_id: string;
  container_id?: string;
  container_name?: string;
  command?: string[];
  tty?: boolean;
}

/**
 * Validate the JSON of an exec output; returns null when it has no usable
 * session id.
 */
export function parseExecOutput(value: unknown): IExecOutputData | null {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    return null;
  }
  const data = value as Record<string, unknown>;
  const sid = data['session_id'];
  if (typeof sid !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(sid)) {
    return null;
  }
  const command = Array.isArray(data['command'])
    ? (data['command'] as unknown[]).map(String)
    : undefined;
  return {
    session_id: sid,
    container_id:
      typeof data['container_id'] === 'string'
        ? (data['container_id'] as string)
        : undefined,
    container_name:
      typeof data['container_name'] === 'string'
        ? (data['container_name'] as string)
        : undefined,
    command,
    tty: data['tty'] === undefined ? true : Boolean(data['tty'])
  };
}

/** The first 12 characters of an id, as `podman ps` shows it. */
export function shortId(id: string | undefined | null): string {
  return (id ?? '').slice(0, 12);
}

/** A container's display name: its first name without a leading slash. */
export function containerName(c: {
  Names?: string[] | null;
  Id: string;
}): string {
  const name = c.Names && c.Names.length ? c.Names[0] : '';
  return name ? name.replace(/^\//, '') : shortId(c.Id);
}

/** A label for a terminal: `name: cmd args`. */
export function terminalLabel(
  container: string | undefined,
  command: string[] | undefined
): string {
  const cmd = command && command.length ? command.join(' ') : 'sh';
  return container ? `${container}: ${cmd}` : cmd;
}

/** Bytes as podman prints them (go-units HumanSize: 1000-based, 4 digits). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let n = bytes;
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${Number(n.toPrecision(4))}${units[i]}`;
}

/**
 * A container's live usage for the panel: "0.3% · 1.2MB", "n/a" without cgroups,
 * "" when there is nothing to say (not running, or not asked).
 */
/** "n2 · job 42" for a container that runs as a Slurm job; '' for a local one. */
export function formatPlacement(
  slurm: { JobId: string; Node: string; Partition: string } | null | undefined
): string {
  if (!slurm || !slurm.JobId) {
    return '';
  }
  return `${slurm.Node || 'pending'} · job ${slurm.JobId}`;
}

export function formatUsage(
  usage: { Available: boolean; CPUPerc: number | null; MemUsage: number | null } | null | undefined,
  running: boolean
): string {
  if (!usage || !running) {
    return '';
  }
  if (!usage.Available) {
    return 'n/a';
  }
  const parts = [];
  if (usage.CPUPerc !== null) {
    parts.push(`${usage.CPUPerc.toFixed(1)}%`);
  }
  if (usage.MemUsage !== null) {
    parts.push(humanSize(usage.MemUsage));
  }
  return parts.join(' · ');
}

/**
 * A tab label that no open tab has: `base`, else `base (2)`, `base (3)` ... using the
 * lowest number free in `taken` (the numbers of the open tabs with this base; 1 is the
 * plain label). Returns the label and its number, which the caller marks as taken.
 */
export function uniqueLabel(base: string, taken: ReadonlySet<number>): [string, number] {
  let n = 1;
  while (taken.has(n)) {
    n += 1;
  }
  return [n === 1 ? base : `${base} (${n})`, n];
}

/** A tab's title: an ended session says so, so a dead tab is told apart from a live one. */
export function tabTitle(
  label: string,
  ended: boolean,
  code: number | null | undefined
): string {
  if (!ended) {
    return label;
  }
  return code === null || code === undefined ? `${label} (ended)` : `${label} (exited ${code})`;
}

/**
 * Parse a timestamp from the API: RFC 3339 text (nanoseconds allowed) or a
 * number of seconds since the epoch. Returns milliseconds, or null for a
 * missing or zero time (Go's zero time, 0001-01-01).
 */
export function parseTime(value: unknown): number | null {
  if (typeof value === 'number') {
    if (!isFinite(value) || value <= 0) {
      return null;
    }
    // Seconds or milliseconds since the epoch.
    return value < 1e11 ? value * 1000 : value;
  }
  if (typeof value !== 'string' || !value) {
    return null;
  }
  if (/^\d+(\.\d+)?$/.test(value)) {
    return parseTime(Number(value));
  }
  // Date.parse does not accept more than millisecond precision everywhere.
  const trimmed = value.replace(/(\.\d{3})\d+/, '$1');
  const ms = Date.parse(trimmed);
  if (isNaN(ms) || ms <= 0) {
    return null;
  }
  return ms;
}

/** A compact human duration: `45s`, `3m 12s`, `2h 5m`, `4d 1h`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) {
    return `${s}s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m}m ${s % 60}s`;
  }
  const h = Math.floor(m / 60);
  if (h < 24) {
    return `${h}h ${m % 60}m`;
  }
  const d = Math.floor(h / 24);
  return `${d}d ${h % 24}h`;
}

/** Duration since `start` (any form parseTime accepts), or '' if unknown. */
export function since(start: unknown, now: number = Date.now()): string {
  const t = parseTime(start);
  return t === null ? '' : formatDuration(now - t);
}

/** Container states in which a process is alive. */
export function isRunningState(state: string | undefined): boolean {
  return state === 'running' || state === 'paused' || state === 'stopping';
}

/** A message from the attach websocket, decoded. */
export type AttachMessage =
  | { kind: 'stdout'; data: string }
  | { kind: 'exit'; code: number | null }
  | { kind: 'error'; message: string }
  | { kind: 'disconnect' }
  | { kind: 'unknown' };

/** Decode one JSON text frame of the attach websocket. */
export function parseAttachMessage(text: string): AttachMessage {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return { kind: 'unknown' };
  }
  if (!Array.isArray(msg) || typeof msg[0] !== 'string') {
    return { kind: 'unknown' };
  }
  switch (msg[0]) {
    case 'stdout':
      return { kind: 'stdout', data: typeof msg[1] === 'string' ? msg[1] : '' };
    case 'exit': {
      const code = Number(msg[1]);
      return {
        kind: 'exit',
        code: msg[1] === null || msg[1] === undefined || isNaN(code) ? null : code
      };
    }
    case 'error':
      return { kind: 'error', message: String(msg[1] ?? '') };
    case 'disconnect':
      return { kind: 'disconnect' };
    default:
      return { kind: 'unknown' };
  }
}

/** The banner text for a session that ended. */
export function exitBanner(code: number | null | undefined): string {
  if (code === null || code === undefined) {
    return 'Session ended';
  }
  if (code > 128 && code < 128 + 65) {
    return `Session exited with code ${code} (signal ${code - 128})`;
  }
  return `Session exited with code ${code}`;
}

/**
 * Build the attach websocket URL of an exec session, the way JupyterLab
 * builds its terminal websocket URLs: `wsUrl` + path, plus `?token=` only
 * when the settings ask for the token to be appended.
 */
export function attachUrl(
  wsUrl: string,
  sessionId: string,
  token: string,
  appendToken: boolean
): string {
  const base = wsUrl.endsWith('/') ? wsUrl : wsUrl + '/';
  let url = `${base}ipy-oci/api/exec/${encodeURIComponent(sessionId)}/attach`;
  if (appendToken && token) {
    url += `?token=${encodeURIComponent(token)}`;
  }
  return url;
}

/** Delay before the n-th reconnection attempt (0-based), in milliseconds. */
export function reconnectDelay(attempt: number): number {
  return Math.min(10000, 500 * Math.pow(2, Math.max(0, attempt)));
}

/** One published port (range), as the REST container list gives it. */
export interface IPortRow {
  host_ip?: string;
  container_port: number;
  host_port: number;
  range?: number;
  protocol?: string;
}

/**
 * podman's PORTS text of one mapping: `0.0.0.0:8080->80/tcp`,
 * `127.0.0.1:8081-8082->81-82/tcp` (an empty host IP is every address).
 */
export function formatPort(p: IPortRow): string {
  const ip = p.host_ip || '0.0.0.0';
  const n = Math.max(1, Number(p.range ?? 1));
  const hp = Number(p.host_port);
  const cp = Number(p.container_port);
  const host = n === 1 ? `${hp}` : `${hp}-${hp + n - 1}`;
  const ctr = n === 1 ? `${cp}` : `${cp}-${cp + n - 1}`;
  return `${ip}:${host}->${ctr}/${p.protocol || 'tcp'}`;
}

/** The PORTS column: every mapping, comma-separated ('' for none). */
export function formatPorts(ports: IPortRow[] | null | undefined): string {
  return (ports ?? []).map(formatPort).join(', ');
}

/**
 * Where a published TCP port is reached from the browser's machine: loopback
 * for a port published on every address or on loopback, the host IP
 * otherwise; null for UDP and SCTP.
 */
export function portUrl(p: IPortRow): string | null {
  if ((p.protocol || 'tcp') !== 'tcp') {
    return null;
  }
  let ip = p.host_ip || '0.0.0.0';
  if (ip === '0.0.0.0' || ip === '::' || ip === '127.0.0.1') {
    ip = '127.0.0.1';
  } else if (ip.includes(':')) {
    ip = `[${ip}]`;
  }
  return `http://${ip}:${p.host_port}/`;
}
