// Build the federated extension into ../ipy_oci/labextension with
// @jupyterlab/builder, against the JupyterLab installed in the Python
// environment (its staging/package.json says which packages are shared).
//
// Usage: node scripts/build-labextension.mjs [--development]
// The Python interpreter is $PYTHON, else ../.venv/bin/python, else python3.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const venvPython = join(root, '..', '.venv', 'bin', 'python');
const python =
  process.env.PYTHON || (existsSync(venvPython) ? venvPython : 'python3');

const probe = spawnSync(
  python,
  [
    '-c',
    'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))'
  ],
  { encoding: 'utf8' }
);
if (probe.status !== 0) {
  console.error(`Cannot find JupyterLab with ${python}:\n${probe.stderr}`);
  process.exit(1);
}
const corePath = probe.stdout.trim();

const require = createRequire(join(root, 'package.json'));
const builder = require.resolve('@jupyterlab/builder/lib/build-labextension.js');
const args = [builder, '--core-path', corePath];
if (process.argv.includes('--development')) {
  args.push('--development');
}
args.push(root);
const run = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (run.status !== 0) {
  process.exit(run.status ?? 1);
}
// install.json tells `jupyter labextension list` that pip manages the extension;
// beside the bundle, one shared-data line installs both.
const outputDir = join(root, JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).jupyterlab.outputDir);
copyFileSync(join(root, 'install.json'), join(outputDir, 'install.json'));
