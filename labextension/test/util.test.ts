// Unit tests of the pure helpers: `jlpm test` (compiled to CommonJS, run by node --test).
import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import {
  attachUrl,
  containerName,
  exitBanner,
  formatDuration,
  formatPort,
  formatPorts,
  isRunningState,
  parseAttachMessage,
  parseExecOutput,
  parseTime,
  portUrl,
  reconnectDelay,
  formatPlacement,
  formatUsage,
  humanSize,
  since,
  tabTitle,
  terminalLabel,
  uniqueLabel
} from '../src/util';

test('uniqueLabel numbers tabs that would share a title, reusing freed numbers', () => {
  assert.deepEqual(uniqueLabel('box: sh', new Set()), ['box: sh', 1]);
  assert.deepEqual(uniqueLabel('box: sh', new Set([1])), ['box: sh (2)', 2]);
  assert.deepEqual(uniqueLabel('box: sh', new Set([1, 3])), ['box: sh (2)', 2]);
  assert.deepEqual(uniqueLabel('box: sh', new Set([2])), ['box: sh', 1]);
});

test('tabTitle marks an ended session', () => {
  assert.equal(tabTitle('box: sh', false, null), 'box: sh');
  assert.equal(tabTitle('box: sh', true, 0), 'box: sh (exited 0)');
  assert.equal(tabTitle('box: sh', true, null), 'box: sh (ended)');
});

test('parseExecOutput accepts the magic output and rejects junk', () => {
  const data = parseExecOutput({
    session_id: 'abc123',
    container_id: 'f00',
    container_name: 'ui',
    command: ['sh'],
    tty: true
  });
  assert.deepEqual(data, {
    session_id: 'abc123',
    container_id: 'f00',
    container_name: 'ui',
    command: ['sh'],
    tty: true
  });
  assert.equal(parseExecOutput(null), null);
  assert.equal(parseExecOutput([]), null);
  assert.equal(parseExecOutput({}), null);
  assert.equal(parseExecOutput({ session_id: '../../etc' }), null);
  assert.equal(parseExecOutput({ session_id: 'a b' }), null);
  assert.equal(parseExecOutput({ session_id: 'x' })?.tty, true);
});

test('attach URL follows the terminal convention for tokens', () => {
  assert.equal(
    attachUrl('ws://h:1/lab/', 'S1', 'tok', false),
    'ws://h:1/lab/ipy-oci/api/exec/S1/attach'
  );
  assert.equal(
    attachUrl('ws://h:1', 'S1', 't k', true),
    'ws://h:1/ipy-oci/api/exec/S1/attach?token=t%20k'
  );
  assert.equal(attachUrl('ws://h/', 'S1', '', true), 'ws://h/ipy-oci/api/exec/S1/attach');
});

test('attach messages decode', () => {
  assert.deepEqual(parseAttachMessage('["stdout", "hi\\r\\n"]'), { kind: 'stdout', data: 'hi\r\n' });
  assert.deepEqual(parseAttachMessage('["exit", 3]'), { kind: 'exit', code: 3 });
  assert.deepEqual(parseAttachMessage('["exit", null]'), { kind: 'exit', code: null });
  assert.deepEqual(parseAttachMessage('["exit"]'), { kind: 'exit', code: null });
  assert.deepEqual(parseAttachMessage('["disconnect", 1]'), { kind: 'disconnect' });
  assert.deepEqual(parseAttachMessage('["error", "boom"]'), { kind: 'error', message: 'boom' });
  assert.deepEqual(parseAttachMessage('not json'), { kind: 'unknown' });
  assert.deepEqual(parseAttachMessage('{"a": 1}'), { kind: 'unknown' });
  assert.deepEqual(parseAttachMessage('["setup", {}]'), { kind: 'unknown' });
});

test('exit banner', () => {
  assert.equal(exitBanner(0), 'Session exited with code 0');
  assert.equal(exitBanner(2), 'Session exited with code 2');
  assert.equal(exitBanner(137), 'Session exited with code 137 (signal 9)');
  assert.equal(exitBanner(null), 'Session ended');
});

test('times and durations', () => {
  assert.equal(parseTime('0001-01-01T00:00:00Z'), null);
  assert.equal(parseTime(''), null);
  assert.equal(parseTime(undefined), null);
  assert.equal(parseTime('2024-01-02T03:04:05.123456789Z'), Date.UTC(2024, 0, 2, 3, 4, 5, 123));
  assert.equal(parseTime(1700000000), 1700000000 * 1000);
  assert.equal(parseTime(1700000000123), 1700000000123);
  assert.equal(formatDuration(999), '0s');
  assert.equal(formatDuration(61 * 1000), '1m 1s');
  assert.equal(formatDuration((2 * 3600 + 5 * 60) * 1000), '2h 5m');
  assert.equal(formatDuration((49 * 3600) * 1000), '2d 1h');
  assert.equal(since('2024-01-01T00:00:00Z', Date.UTC(2024, 0, 1, 0, 0, 42)), '42s');
  assert.equal(since(null), '');
});

test('names, labels, states, backoff', () => {
  assert.equal(containerName({ Id: 'abcdef0123456789', Names: ['/ui'] }), 'ui');
  assert.equal(containerName({ Id: 'abcdef0123456789', Names: [] }), 'abcdef012345');
  assert.equal(terminalLabel('ui', ['sh']), 'ui: sh');
  assert.equal(terminalLabel(undefined, []), 'sh');
  assert.ok(isRunningState('running'));
  assert.ok(isRunningState('paused'));
  assert.ok(!isRunningState('exited'));
  assert.equal(reconnectDelay(0), 500);
  assert.equal(reconnectDelay(1), 1000);
  assert.equal(reconnectDelay(20), 10000);
});

test('formatPorts writes podman ps PORTS text', () => {
  assert.equal(formatPorts(undefined), '');
  assert.equal(formatPorts([]), '');
  assert.equal(
    formatPorts([
      { host_ip: '', container_port: 80, host_port: 8080, range: 1, protocol: 'tcp' },
      { host_ip: '127.0.0.1', container_port: 81, host_port: 8081, range: 2, protocol: 'tcp' },
      { host_ip: '', container_port: 53, host_port: 5353, protocol: 'udp' }
    ]),
    '0.0.0.0:8080->80/tcp, 127.0.0.1:8081-8082->81-82/tcp, 0.0.0.0:5353->53/udp'
  );
  assert.equal(
    formatPort({ container_port: 80, host_port: 9000 }),
    '0.0.0.0:9000->80/tcp'
  );
});

test('portUrl links TCP ports through loopback or their host IP', () => {
  assert.equal(portUrl({ host_ip: '', container_port: 80, host_port: 8080 }), 'http://127.0.0.1:8080/');
  assert.equal(portUrl({ host_ip: '0.0.0.0', container_port: 80, host_port: 1 }), 'http://127.0.0.1:1/');
  assert.equal(portUrl({ host_ip: '127.0.0.1', container_port: 80, host_port: 2 }), 'http://127.0.0.1:2/');
  assert.equal(portUrl({ host_ip: '192.0.2.7', container_port: 80, host_port: 3 }), 'http://192.0.2.7:3/');
  assert.equal(portUrl({ host_ip: 'fd00::1', container_port: 80, host_port: 4 }), 'http://[fd00::1]:4/');
  assert.equal(portUrl({ host_ip: '', container_port: 53, host_port: 5, protocol: 'udp' }), null);
});

test('humanSize and formatUsage print what podman stats prints', () => {
  assert.equal(humanSize(512), '512B');
  assert.equal(humanSize(483_300), '483.3kB');
  assert.equal(humanSize(1_234_567_890), '1.235GB');
  const usage = { Available: true, CPUPerc: 0.25, MemUsage: 1_200_000 };
  assert.equal(formatUsage(usage, true), '0.3% · 1.2MB');
  assert.equal(formatUsage({ ...usage, CPUPerc: null }, true), '1.2MB');
  assert.equal(formatUsage(usage, false), '');
  assert.equal(formatUsage({ Available: false, CPUPerc: null, MemUsage: null }, true), 'n/a');
  assert.equal(formatUsage(undefined, true), '');
});

test('formatPlacement says where a Slurm container runs, nothing for a local one', () => {
  assert.equal(formatPlacement({ JobId: '42', Node: 'n2', Partition: 'debug' }), 'n2 · job 42');
  assert.equal(formatPlacement({ JobId: '7', Node: '', Partition: '' }), 'pending · job 7');
  assert.equal(formatPlacement({ JobId: '', Node: '', Partition: '' }), '');
  assert.equal(formatPlacement(undefined), '');
});
