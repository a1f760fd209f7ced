#!/usr/bin/env node
// UI tests of the ipy-oci JupyterLab extension, in Debian's headless Chromium
// driven by playwright-core, against a real JupyterLab with the ipy_oci
// server extension and real containers.
//
//   cd labextension && jlpm ui-test          (or: node labextension/ui-tests/run.mjs)
//
// Environment (all optional):
//   PYTHON_VENV   the Python environment (default: ../.venv from labextension/)
//   CHROMIUM      the browser (default: /usr/bin/chromium)
//   UI_TEST_KEEP  keep the temporary directory (printed) for inspection
//   UI_TEST_HEADED run a visible browser (needs a display)
//
// Artifacts (screenshots, server and browser logs) go to ui-tests/artifacts/.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  createWriteStream
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const HERE = dirname(fileURLToPath(import.meta.url));
const EXT_DIR = resolve(HERE, '..');
const REPO = resolve(EXT_DIR, '..');
const VENV = resolve(process.env.PYTHON_VENV || join(REPO, '.venv'));
const JUPYTER = join(VENV, 'bin', 'jupyter');
const IPY_OCI = join(VENV, 'bin', 'ipy-oci');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const BUILT = join(REPO, 'ipy_oci', 'labextension');
const ARTIFACTS = join(HERE, 'artifacts');
const CONTAINER = 'ui';
const TOTAL_TIMEOUT_MS = 5 * 60 * 1000;

const require = createRequire(join(EXT_DIR, 'package.json'));
const { chromium } = require('playwright-core');

const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
const log = msg => console.log(`[ui-test ${elapsed()}] ${msg}`);

// ---- preflight -----------------------------------------------------------

for (const [what, path] of [
  ['jupyter', JUPYTER],
  ['ipy-oci', IPY_OCI],
  ['chromium', CHROMIUM],
  ['the built extension (run `jlpm build:prod`)', join(BUILT, 'package.json')]
]) {
  if (!existsSync(path)) {
    console.error(`ui-test: missing ${what}: ${path}`);
    process.exit(2);
  }
}

rmSync(ARTIFACTS, { recursive: true, force: true });
mkdirSync(ARTIFACTS, { recursive: true });

const TMP = mkdtempSync(join(tmpdir(), 'ipy-oci-ui-'));
const dirs = {
  root: join(TMP, 'oci-root'),
  runroot: join(TMP, 'oci-run'),
  notebooks: join(TMP, 'notebooks'),
  config: join(TMP, 'jupyter-config'),
  runtime: join(TMP, 'jupyter-runtime'),
  settings: join(TMP, 'lab-settings'),
  workspaces: join(TMP, 'lab-workspaces'),
  labext: join(TMP, 'labextensions'),
  ipython: join(TMP, 'ipython')
};
for (const d of Object.values(dirs)) {
  mkdirSync(d, { recursive: true });
}

const ENV = {
  ...process.env,
  IPY_OCI_ROOT: dirs.root,
  IPY_OCI_RUNROOT: dirs.runroot,
  JUPYTER_CONFIG_DIR: dirs.config,
  JUPYTER_RUNTIME_DIR: dirs.runtime,
  JUPYTERLAB_SETTINGS_DIR: dirs.settings,
  JUPYTERLAB_WORKSPACES_DIR: dirs.workspaces,
  IPYTHONDIR: dirs.ipython,
  PATH: `${join(VENV, 'bin')}:${process.env.PATH}`
};

// Serve the freshly built bundle, whatever is installed in the environment.
symlinkSync(BUILT, join(dirs.labext, 'ipy-oci-labextension'));

// No news or update toasts (no internet here, and they cover the page).
mkdirSync(join(dirs.settings, '@jupyterlab', 'apputils-extension'), { recursive: true });
writeFileSync(
  join(dirs.settings, '@jupyterlab', 'apputils-extension', 'notification.jupyterlab-settings'),
  JSON.stringify({ checkForUpdates: false, fetchNews: 'false' })
);

const NOTEBOOK = 'ui.ipynb';
const PORT = await freePort();
const TOKEN = randomBytes(16).toString('hex');

writeFileSync(
  join(dirs.notebooks, NOTEBOOK),
  JSON.stringify(
    {
      cells: [
        {
          cell_type: 'code',
          execution_count: null,
          id: 'oci-exec',
          metadata: {},
          outputs: [],
          source: [
            '%load_ext ipy_oci\n',
            `%oci run -d --name ${CONTAINER} busybox sleep 1000\n`,
            `%oci exec -it ${CONTAINER} sh`
          ]
        }
      ],
      metadata: {
        kernelspec: { display_name: 'Python 3 (ipykernel)', language: 'python', name: 'python3' },
        language_info: { name: 'python' }
      },
      nbformat: 4,
      nbformat_minor: 5
    },
    null,
    1
  )
);

// ---- processes -----------------------------------------------------------

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

let server = null;
let registry = null;
let browser = null;
let cleanedUp = false;

// A loopback registry for the pull step (the Debian docker-registry, as the Python
// tests use), with busybox pushed to it by ipy-oci itself.
const REGISTRY_BIN = '/usr/bin/docker-registry';
const WIDGETS_NB = 'widgets.ipynb';
const WCONTAINER = 'uiw';

async function startRegistry() {
  const port = await freePort();
  const storage = join(TMP, 'registry');
  mkdirSync(storage, { recursive: true });
  const cfg = join(TMP, 'registry.yml');
  writeFileSync(
    cfg,
    'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n' +
      `storage:\n  filesystem:\n    rootdirectory: ${storage}\n` +
      `http:\n  addr: 127.0.0.1:${port}\n`
  );
  registry = spawn(REGISTRY_BIN, ['serve', cfg], { env: ENV, stdio: 'ignore' });
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/v2/`)).ok) {
        break;
      }
    } catch {
      /* not up yet */
    }
    await new Promise(r => setTimeout(r, 100));
  }
  const host = `127.0.0.1:${port}`;
  const push = spawnSync(IPY_OCI, ['push', '--tls-verify=false', 'busybox', `${host}/ui/busybox:1`], {
    env: ENV,
    encoding: 'utf8',
    timeout: 120000
  });
  if (push.status !== 0) {
    throw new Error(`ipy-oci push to the test registry failed: ${push.stderr}`);
  }
  return host;
}

function writeWidgetsNotebook(host) {
  const cell = (id, source) => ({
    cell_type: 'code',
    execution_count: null,
    id,
    metadata: {},
    outputs: [],
    source
  });
  writeFileSync(
    join(dirs.notebooks, WIDGETS_NB),
    JSON.stringify({
      cells: [
        cell('table', [
          '%load_ext ipy_oci\n',
          `%oci run -d --name ${WCONTAINER} --network none busybox sleep 1000\n`,
          't = %oci ps --widget\n',
          't'
        ]),
        cell('pull', [`img = %oci pull --tls-verify=false ${host}/ui/busybox:1\n`, 'img']),
        cell('provenance', ['%%oci run --network none busybox\n', 'echo provenance']),
        cell('cleanup', ['t.close()\n', `%oci rm -f -t 0 ${WCONTAINER}`])
      ],
      metadata: {
        kernelspec: { display_name: 'Python 3 (ipykernel)', language: 'python', name: 'python3' },
        language_info: { name: 'python' }
      },
      nbformat: 4,
      nbformat_minor: 5
    })
  );
}

/** Run the notebook's cell number `index` (0-based) and wait until it is done. */
async function runCell(page, index) {
  const cell = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell').nth(index);
  await cell.locator('.jp-InputArea-editor').click();
  await page.keyboard.press('Shift+Enter');
  await page.waitForFunction(
    el => /\[\d+\]/.test(el.textContent || ''),
    await cell.locator('.jp-InputPrompt').elementHandle(),
    { timeout: 60000 }
  );
  return cell;
}

/** WCAG contrast ratio of CSS rgb()/rgba() text `fg` (blended by its alpha) on `bg`. */
function contrast(fg, bg) {
  const parse = c => {
    const v = (c.match(/[\d.]+/g) || ['0', '0', '0']).map(Number);
    return { rgb: v.slice(0, 3), alpha: v.length > 3 ? v[3] : 1 };
  };
  const back = parse(bg).rgb;
  const text = parse(fg);
  const seen = text.rgb.map((v, i) => v * text.alpha + back[i] * (1 - text.alpha));
  const lum = rgb => {
    const [r, g, b] = rgb.map(v => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [a, b] = [lum(seen), lum(back)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}

function removeContainer() {
  const r = spawnSync(IPY_OCI, ['rm', '-f', CONTAINER], { env: ENV, encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0 && !/no such|not found/i.test(r.stderr || '')) {
    log(`ipy-oci rm -f ${CONTAINER}: ${(r.stderr || '').trim() || `exit ${r.status}`}`);
  }
}

async function stopServer() {
  if (!server || server.exitCode !== null) {
    return;
  }
  const exited = new Promise(ok => server.once('exit', ok));
  server.kill('SIGTERM');
  const timer = setTimeout(() => {
    // Graceful shutdown asks for confirmation on a second SIGINT only; SIGTERM
    // should do, but never hang the test run.
    try {
      server.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }, 20000);
  await exited;
  clearTimeout(timer);
}

async function cleanup() {
  if (cleanedUp) {
    return;
  }
  cleanedUp = true;
  try {
    await browser?.close();
  } catch {
    /* ignore */
  }
  removeContainer();
  await stopServer();
  if (registry && registry.exitCode === null) {
    registry.kill('SIGKILL');
  }
  // Anything left (e.g. a container the magic created under another name).
  const ps = spawnSync(IPY_OCI, ['ps', '-aq'], { env: ENV, encoding: 'utf8', timeout: 30000 });
  for (const id of (ps.stdout || '').split(/\s+/).filter(Boolean)) {
    spawnSync(IPY_OCI, ['rm', '-f', id], { env: ENV, timeout: 30000 });
  }
  if (process.env.UI_TEST_KEEP) {
    log(`kept ${TMP}`);
  } else {
    try {
      unlinkSync(join(dirs.labext, 'ipy-oci-labextension'));
    } catch {
      /* ignore */
    }
    rmSync(TMP, { recursive: true, force: true, maxRetries: 3 });
  }
}

const watchdog = setTimeout(async () => {
  console.error(`ui-test: timed out after ${TOTAL_TIMEOUT_MS / 1000}s`);
  await cleanup();
  process.exit(3);
}, TOTAL_TIMEOUT_MS);

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    await cleanup();
    process.exit(130);
  });
}

// The server extension, enabled on the command line as the package's own
// jupyter_server_config.d file names it (the file may not be installed).
function serverExtensions() {
  let names = ['ipy_oci'];
  try {
    const conf = JSON.parse(
      readFileSync(join(REPO, 'jupyter-config', 'jupyter_server_config.d', 'ipy_oci.json'), 'utf8')
    );
    const listed = Object.keys(conf?.ServerApp?.jpserver_extensions ?? {});
    if (listed.length) {
      names = listed;
    }
  } catch {
    /* use the default */
  }
  return `{${names.map(n => `'${n}': True`).join(', ')}}`;
}

async function startJupyter() {
  const port = PORT;
  const token = TOKEN;
  const args = [
    'lab',
    '--allow-root',
    '--no-browser',
    `--ServerApp.token=${token}`,
    '--ServerApp.ip=127.0.0.1',
    `--port=${port}`,
    '--ServerApp.port_retries=0',
    `--ServerApp.root_dir=${dirs.notebooks}`,
    `--ServerApp.jpserver_extensions=${serverExtensions()}`,
    `--LabApp.extra_labextensions_path=${dirs.labext}`,
    '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
    '--LabApp.news_url=',
    '--IpyOciApp.reaper_interval=2'
  ];
  const out = createWriteStream(join(ARTIFACTS, 'jupyter.log'));
  server = spawn(JUPYTER, args, { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout.pipe(out);
  server.stderr.pipe(out);
  const base = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) {
      throw new Error(`jupyter lab exited with code ${server.exitCode} (see artifacts/jupyter.log)`);
    }
    try {
      const r = await fetch(`${base}api/status`, { headers: { Authorization: `token ${token}` } });
      if (r.ok) {
        const ext = await fetch(`${base}ipy-oci/api/containers`, {
          headers: { Authorization: `token ${token}` }
        });
        if (!ext.ok) {
          throw new Error(`the ipy_oci server extension does not answer: GET containers -> ${ext.status}`);
        }
        return { base, token };
      }
    } catch (error) {
      if (String(error.message).includes('ipy_oci')) {
        throw error;
      }
    }
    await new Promise(r => setTimeout(r, 250));
  }
  throw new Error('jupyter lab did not start within 60 s');
}

// ---- helpers -------------------------------------------------------------

/** Lines of text an xterm.js (DOM renderer) shows. */
async function xtermLines(locator) {
  return locator.evaluate(el => {
    const rows = el.querySelector('.xterm-rows');
    if (!rows) {
      return [];
    }
    return Array.from(rows.children).map(row =>
      (row.textContent || '').replace(/\u00a0/g, ' ').replace(/\s+$/, '')
    );
  });
}

/** Wait until the terminal shows a line equal to `text` (not the echoed command). */
async function waitForLine(locator, text, timeout = 20000) {
  const deadline = Date.now() + timeout;
  let lines = [];
  while (Date.now() < deadline) {
    lines = await xtermLines(locator);
    if (lines.some(l => l.trim() === text)) {
      return lines;
    }
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error(`terminal never showed "${text}"; it shows:\n${lines.filter(Boolean).join('\n')}`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
  log(`  screenshot artifacts/${name}.png`);
}

// ---- the tests -----------------------------------------------------------

const results = [];

async function step(page, name, fn) {
  const start = Date.now();
  log(`▶ ${name}`);
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - start });
    log(`✔ ${name} (${((Date.now() - start) / 1000).toFixed(1)}s)`);
  } catch (error) {
    results.push({ name, ok: false, ms: Date.now() - start, error });
    log(`✘ ${name}: ${error.message}`);
    try {
      await shot(page, `FAILED-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`);
    } catch {
      /* page gone */
    }
    throw error;
  }
}

async function main() {
  log(`temporary directory ${TMP}`);
  const { base, token } = await startJupyter();
  log(`JupyterLab at ${base}lab`);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: !process.env.UI_TEST_HEADED,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run'
    ].filter(a => a !== '--headless' || !process.env.UI_TEST_HEADED)
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  const consoleLog = createWriteStream(join(ARTIFACTS, 'browser-console.log'));
  page.on('console', m => consoleLog.write(`[${m.type()}] ${m.text()}\n`));
  page.on('pageerror', e => consoleLog.write(`[pageerror] ${e.stack || e.message}\n`));

  const output = page.locator('.jp-IpyOci-execOutput').first();
  const outputTerm = output.locator('.jp-IpyOci-terminal');
  const panelItem = page.locator(`.jp-IpyOci-container[data-name="${CONTAINER}"]`);

  await step(page, 'open the notebook', async () => {
    await page.goto(`${base}lab/tree/${NOTEBOOK}?token=${token}&reset`);
    await page.locator('.jp-NotebookPanel .jp-Cell').first().waitFor({ timeout: 60000 });
    // The kernel must be connected and idle before we run the cell.
    await page.waitForFunction(
      () => /\|\s*Idle/.test(document.querySelector('#jp-main-statusbar')?.textContent || ''),
      null,
      { timeout: 60000 }
    );
  });

  await step(page, 'run the cell: an exec terminal appears in the output', async () => {
    await page.locator('.jp-NotebookPanel .jp-Cell .jp-InputArea-editor').first().click();
    await page.keyboard.press('Shift+Enter');
    const prompt = page.locator('.jp-NotebookPanel .jp-Cell').first().locator('.jp-InputPrompt');
    await page.waitForFunction(
      el => /\[(\*|\d+)\]/.test(el.textContent || ''),
      await prompt.elementHandle(),
      { timeout: 10000 }
    );
    await output.waitFor({ timeout: 60000 });
    await outputTerm.locator('.xterm-rows').waitFor();
    await page.waitForSelector('.jp-IpyOci-execOutput .jp-IpyOci-terminal[data-status="connected"]', {
      timeout: 30000
    });
  });

  await step(page, 'type echo ui-ok and see it in the xterm', async () => {
    await outputTerm.locator('.xterm-screen').click();
    // Wait for the shell prompt before typing.
    await page.waitForFunction(
      () => {
        const rows = document.querySelector('.jp-IpyOci-execOutput .xterm-rows');
        return !!rows && /[#$] ?$/.test((rows.textContent || '').replace(/\u00a0/g, ' ').trim());
      },
      null,
      { timeout: 15000 }
    ).catch(() => undefined);
    await page.keyboard.type('echo ui-ok');
    await page.keyboard.press('Enter');
    await waitForLine(outputTerm, 'ui-ok');
    await shot(page, '01-notebook-terminal');
  });

  await step(page, 'notebook shortcuts stay out of the terminal', async () => {
    const cells = page.locator('.jp-NotebookPanel .jp-Cell');
    const count = await cells.count();
    await outputTerm.locator('.xterm-screen').click();
    // Escape, a, b, dd, Ctrl+C and Shift+Enter all mean something to a notebook.
    await page.keyboard.press('Control+c');
    await page.keyboard.type('echo a b dd');
    await page.keyboard.press('Shift+Enter');
    await waitForLine(outputTerm, 'a b dd');
    // Escape leaves the focus in the terminal (the shell gets the key).
    await page.keyboard.press('Escape');
    await page.waitForTimeout(200);
    const focused = await page.evaluate(() =>
      !!document.activeElement?.closest('.jp-IpyOci-execOutput .jp-IpyOci-terminal')
    );
    await page.keyboard.press('Control+c');
    if (!focused) {
      throw new Error('Escape took the focus out of the terminal');
    }
    const after = await cells.count();
    const prompt = (await cells.first().locator('.jp-InputPrompt').textContent()) || '';
    if (after !== count || !/\[1\]/.test(prompt)) {
      throw new Error(`the notebook reacted: ${count} -> ${after} cells, prompt ${prompt}`);
    }
  });

  await step(page, 'terminal resizes with its pane (set_size reaches the pty)', async () => {
    // Drag-resize is awkward to script: change the pane height instead.
    const before = await outputTerm.evaluate(el => el.getBoundingClientRect().height);
    await outputTerm.evaluate((el, h) => (el.style.height = `${h}px`), Math.round(before + 120));
    await page.waitForTimeout(400);
    await outputTerm.locator('.xterm-screen').click();
    await page.keyboard.type('stty size');
    await page.keyboard.press('Enter');
    const deadline = Date.now() + 10000;
    let rows = 0;
    let lines = [];
    while (Date.now() < deadline) {
      lines = await xtermLines(outputTerm);
      const size = lines.map(l => /^(\d+) (\d+)$/.exec(l.trim())).filter(Boolean).pop();
      if (size) {
        rows = Number(size[1]);
        break;
      }
      await page.waitForTimeout(100);
    }
    if (!rows) {
      throw new Error(`stty size printed nothing:\n${lines.filter(Boolean).join('\n')}`);
    }
    const visibleRows = await outputTerm.evaluate(
      el => el.querySelector('.xterm-rows')?.children.length ?? 0
    );
    if (rows !== visibleRows) {
      throw new Error(`the pty has ${rows} rows, the xterm shows ${visibleRows}`);
    }
  });

  await step(page, 'open in tab moves the live terminal to the main area', async () => {
    await output.locator('button[data-action="open-in-tab"]').click();
    const tabTerm = page.locator('.jp-IpyOci-terminalTab .jp-IpyOci-terminal');
    await tabTerm.locator('.xterm-rows').waitFor();
    // Moved, not re-attached: the earlier output is still there.
    await waitForLine(tabTerm, 'ui-ok', 5000);
    await tabTerm.locator('.xterm-screen').click();
    await page.keyboard.type('echo tab-ok');
    await page.keyboard.press('Enter');
    await waitForLine(tabTerm, 'tab-ok');
    await shot(page, '02-terminal-in-tab');
    await page.locator('.jp-IpyOci-terminalTab .jp-Toolbar').getByText('Move back to output').click();
    await outputTerm.locator('.xterm-rows').waitFor();
    await waitForLine(outputTerm, 'tab-ok', 5000);
    await output.locator('button[data-action="open-in-tab"]').waitFor({ timeout: 5000 });
  });

  await step(page, 'command palette: ipy-oci: Open terminal in container…', async () => {
    await page.keyboard.press('Control+Shift+c');
    const input = page.locator('.lm-CommandPalette-input');
    await input.waitFor();
    await input.fill('Open terminal in container');
    await page
      .locator('.lm-CommandPalette-item', { hasText: 'ipy-oci: Open terminal in container…' })
      .first()
      .click();
    const dialog = page.locator('.jp-Dialog');
    await dialog.locator('select.jp-IpyOci-chooserSelect').waitFor();
    const options = await dialog.locator('select.jp-IpyOci-chooserSelect option').allTextContents();
    if (!options.some(o => o.startsWith(`${CONTAINER} `))) {
      throw new Error(`the dialog does not offer "${CONTAINER}": ${options.join(' | ')}`);
    }
    await shot(page, '03-open-terminal-dialog');
    await dialog.locator('.jp-Dialog-button.jp-mod-accept').click();
    const tabTerm = page.locator('.jp-IpyOci-terminalTab .jp-IpyOci-terminal[data-status="connected"]');
    await tabTerm.waitFor();
    await tabTerm.locator('.xterm-screen').click();
    await page.keyboard.type('echo cmd-ok');
    await page.keyboard.press('Enter');
    await waitForLine(tabTerm, 'cmd-ok');
    await shot(page, '04-command-terminal-tab');
  });

  await step(page, 'after a page reload, terminals come back with their screen', async () => {
    // Save, so the reloaded notebook has the output (and no unsaved-changes prompt).
    await page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'ui.ipynb' }).click();
    await page.keyboard.press('Control+s');
    await page.waitForFunction(
      () => !document.querySelector('.lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-dirty'),
      null,
      { timeout: 10000 }
    );
    // /lab (not the /lab/tree/… URL of the first visit, which opens that file
    // instead of restoring the whole layout).
    log(`  reloading from ${page.url()}`);
    // The workspace reaches the server after a short debounce: wait for the tab in it.
    const deadline = Date.now() + 10000;
    for (;;) {
      const r = await fetch(`${base}lab/api/workspaces/default`, {
        headers: { Authorization: `token ${token}` }
      });
      const ws = r.ok ? await r.json() : {};
      if (Object.keys(ws.data || {}).some(k => k.startsWith('ipy-oci-terminal:'))) {
        break;
      }
      if (Date.now() > deadline) {
        throw new Error('the terminal tab never reached the saved workspace');
      }
      await page.waitForTimeout(200);
    }
    await page.goto(`${base}lab`);
    await output.locator('.jp-IpyOci-terminal[data-status="connected"]').waitFor({ timeout: 60000 });
    await waitForLine(outputTerm, 'tab-ok', 10000);
    // The tab opened by the command is restored too, attached to its session.
    const restored = page.locator('.jp-IpyOci-terminalTab .jp-IpyOci-terminal[data-status="connected"]');
    await page
      .locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'ui: sh' })
      .first()
      .click({ timeout: 30000 });
    await restored.first().waitFor({ timeout: 30000 });
    await waitForLine(restored.first(), 'cmd-ok', 10000);
    // Still live after the replay.
    await restored.first().locator('.xterm-screen').click();
    await page.keyboard.type('echo again-ok');
    await page.keyboard.press('Enter');
    await waitForLine(restored.first(), 'again-ok');
    await page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'ui.ipynb' }).click();
    await outputTerm.locator('.xterm-screen').click();
    await page.keyboard.type('echo reload-ok');
    await page.keyboard.press('Enter');
    await waitForLine(outputTerm, 'reload-ok');
    await shot(page, '05-after-reload');
  });

  await step(page, 'the side panel lists the container and its exec sessions', async () => {
    await page.locator('.jp-SideBar .lm-TabBar-tab[data-id="ipy-oci-containers"]').click();
    await panelItem.waitFor();
    await page.waitForSelector(`.jp-IpyOci-container[data-name="${CONTAINER}"][data-state="running"]`);
    await page.waitForFunction(
      name =>
        document.querySelectorAll(
          `.jp-IpyOci-container[data-name="${name}"] .jp-IpyOci-session[data-state="running"]`
        ).length >= 2,
      CONTAINER,
      { timeout: 10000 }
    );
    // Live CPU and memory (root has cgroups): a percentage once two polls were made.
    await panelItem.locator('.jp-IpyOci-containerUsage', { hasText: /%.*B$/ }).waitFor({ timeout: 20000 });
    log(`  usage: ${await panelItem.locator('.jp-IpyOci-containerUsage').textContent()}`);
    const image = await panelItem.locator('.jp-IpyOci-containerImage').textContent();
    if (!/busybox/.test(image || '')) {
      throw new Error(`unexpected image in the panel: ${image}`);
    }
    const uptime = (await panelItem.locator('.jp-IpyOci-containerUptime').textContent()) || '';
    if (!uptime.trim()) {
      throw new Error('the panel shows no uptime');
    }
    await shot(page, '06-panel-running');
  });

  await step(page, 'panel: open a terminal, closing its tab stops the session', async () => {
    const tabs = page.locator('.jp-IpyOci-terminalTab .jp-IpyOci-terminal');
    const before = await tabs.count();
    await panelItem.locator('button[data-action="terminal"]').click();
    await page.waitForFunction(
      n => document.querySelectorAll('.jp-IpyOci-terminalTab .jp-IpyOci-terminal[data-status="connected"]').length > n,
      before
    );
    const term = page.locator('.jp-IpyOci-terminalTab:not(.lm-mod-hidden) .jp-IpyOci-terminal');
    const sid = await term.getAttribute('data-session-id');
    await term.locator('.xterm-screen').click();
    await page.keyboard.type('echo panel-ok');
    await page.keyboard.press('Enter');
    await waitForLine(term, 'panel-ok');
    await page.locator(`.jp-IpyOci-session[data-session-id="${sid}"][data-state="running"]`).waitFor();
    await page
      .locator('.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon')
      .click();
    await page.locator(`.jp-IpyOci-session[data-session-id="${sid}"][data-state="stopped"]`).waitFor({
      timeout: 20000
    });
  });

  await step(page, 'the launcher has a Container Terminal card', async () => {
    await page.locator('.lm-DockPanel-tabBar .lm-TabBar-addButton').first().click();
    const card = page.locator('.jp-LauncherCard', { hasText: 'Container Terminal' });
    await card.waitFor();
    await card.click();
    const dialog = page.locator('.jp-Dialog');
    await dialog.locator('select.jp-IpyOci-chooserSelect').waitFor();
    await dialog.locator('.jp-Dialog-button:not(.jp-mod-accept)').first().click();
    await dialog.waitFor({ state: 'detached' });
  });

  await step(page, 'stopping from the panel updates the state, the terminal says it ended', async () => {
    await panelItem.locator('button[data-action="stop"]').click();
    await page.waitForSelector(`.jp-IpyOci-container[data-name="${CONTAINER}"][data-state="exited"]`, {
      timeout: 30000
    });
    // A stopped container offers Start instead of Stop.
    await panelItem.locator('button[data-action="start"]').waitFor();
    // The notebook terminal's session died with the container.
    const banner = output.locator('.jp-IpyOci-terminalBanner');
    await page.waitForFunction(
      () => {
        const b = document.querySelector('.jp-IpyOci-execOutput .jp-IpyOci-terminalBanner');
        return !!b && !b.hidden && /exited with code \d+|Session ended|not found/.test(b.textContent || '');
      },
      null,
      { timeout: 20000 }
    );
    log(`  banner: ${await banner.textContent()}`);
    await page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'ui.ipynb' }).click();
    await page.waitForTimeout(300);
    await shot(page, '07-panel-stopped');
  });

  await step(page, 'after a reload, a terminal whose session ended shows why', async () => {
    await page.reload();
    await page.locator('.jp-NotebookPanel .jp-Cell').first().waitFor({ timeout: 60000 });
    await page.waitForFunction(
      () => {
        const b = document.querySelector('.jp-IpyOci-execOutput .jp-IpyOci-terminalBanner');
        return !!b && !b.hidden && /exited with code \d+|Session ended|not found/.test(b.textContent || '');
      },
      null,
      { timeout: 30000 }
    );
    log(`  banner: ${await output.locator('.jp-IpyOci-terminalBanner').textContent()}`);
    await shot(page, '07b-ended-after-reload');
  });

  await step(page, 'terminals follow the theme (dark)', async () => {
    const color = () =>
      page.evaluate(() => {
        const rows = document.querySelector('.jp-IpyOci-execOutput .xterm-rows');
        const rgb = (rows ? getComputedStyle(rows).color : '').match(/\d+/g) || [0, 0, 0];
        const [r, g, b] = rgb.map(Number);
        return (0.299 * r + 0.587 * g + 0.114 * b) / 255;
      });
    const light = await color();
    await page.keyboard.press('Control+Shift+c');
    const input = page.locator('.lm-CommandPalette-input');
    await input.waitFor();
    await input.fill('JupyterLab Dark');
    await page.locator('.lm-CommandPalette-item', { hasText: 'JupyterLab Dark' }).first().click();
    await page.waitForFunction(() => document.body.dataset.jpThemeLight === 'false', null, {
      timeout: 20000
    });
    const deadline = Date.now() + 10000;
    let dark = light;
    while (Date.now() < deadline && dark <= 0.5) {
      await page.waitForTimeout(200);
      dark = await color();
    }
    if (!(light < 0.5 && dark > 0.5)) {
      throw new Error(`terminal text luminance ${light.toFixed(2)} (light) -> ${dark.toFixed(2)} (dark)`);
    }
    await page.waitForTimeout(300);
    await shot(page, '08-dark-theme');
  });

  const host = await startRegistry();
  writeWidgetsNotebook(host);

  await step(page, 'table: remove asks before removing a running container', async () => {
    await page.goto(`${base}lab/tree/${WIDGETS_NB}?token=${token}&reset`);
    await page.locator('.jp-NotebookPanel .jp-Cell').first().waitFor({ timeout: 60000 });
    await page.waitForFunction(
      () => /\|\s*Idle/.test(document.querySelector('#jp-main-statusbar')?.textContent || ''),
      null,
      { timeout: 60000 }
    );
    const cell = await runCell(page, 0);
    const remove = cell.getByRole('button', { name: 'remove', exact: true });
    await remove.click();
    await cell.getByRole('button', { name: 'remove?', exact: true }).waitFor();
    const ps = spawnSync(IPY_OCI, ['ps', '-q', '--filter', `name=${WCONTAINER}`], {
      env: ENV,
      encoding: 'utf8'
    });
    if (!(ps.stdout || '').trim()) {
      throw new Error('the container was removed without confirmation');
    }
    await shot(page, '09-remove-confirm');
    await cell.getByRole('button', { name: 'cancel', exact: true }).click();
    await remove.waitFor();
  });

  await step(page, 'pull: progress collapses into one summary line, nothing on stderr', async () => {
    const cell = await runCell(page, 1);
    await cell.locator('.jp-OutputArea').getByText(/^pulled .* fetched\), .* in [\d.]+ s$/).first().waitFor();
    const stderr = await cell.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').count();
    if (stderr) {
      throw new Error('the pull wrote to stderr');
    }
    await cell.locator('.jp-OutputArea').getByText(/^<Image |^image /).first().waitFor();
    await shot(page, '10-pull');
  });

  await step(page, 'provenance summary is readable in the dark theme', async () => {
    const cell = await runCell(page, 2);
    const summary = cell.locator('details > summary').first();
    await summary.waitFor();
    const [fg, bg] = await summary.evaluate(el => {
      let node = el;
      let back = 'rgba(0, 0, 0, 0)';
      while (node && /rgba\(0, 0, 0, 0\)|transparent/.test(back)) {
        back = getComputedStyle(node).backgroundColor;
        node = node.parentElement;
      }
      return [getComputedStyle(el).color, back];
    });
    const ratio = contrast(fg, bg);
    log(`  summary ${fg} on ${bg}: contrast ${ratio.toFixed(2)}`);
    if (ratio < 4.5) {
      throw new Error(`provenance summary contrast ${ratio.toFixed(2)} < 4.5 (${fg} on ${bg})`);
    }
    await runCell(page, 3);
  });

  await context.close();
}

let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  console.error(error.stack || String(error));
} finally {
  await cleanup();
  clearTimeout(watchdog);
}

console.log('');
for (const r of results) {
  console.log(`${r.ok ? 'PASS' : 'FAIL'}  ${r.name}  (${(r.ms / 1000).toFixed(1)}s)`);
}
const shots = readdirSync(ARTIFACTS).filter(f => f.endsWith('.png'));
console.log(`\n${results.filter(r => r.ok).length}/${results.length} steps passed in ${elapsed()}; ` +
  `${shots.length} screenshots in ${ARTIFACTS}`);
process.exit(failed ? 1 : 0);
