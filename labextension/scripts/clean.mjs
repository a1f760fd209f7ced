// Remove build outputs: the compiled library and the prebuilt extension.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const path of [
  'lib',
  'build-test',
  'tsconfig.tsbuildinfo',
  '../ipy_oci/labextension'
]) {
  rmSync(join(root, path), { recursive: true, force: true });
}
