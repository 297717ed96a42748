// Builds the optional sendfile addon (npm's install script). A failed build never fails the install: berth then
// serves blobs through streams and says so once at start; `npm run build:native` retries, showing the error.
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const strict = process.argv.includes('--strict');
// npm runs scripts with its own node-gyp: npm_config_node_gyp names it, and node-gyp-bin is on PATH
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp]] : ['node-gyp', []];
if (process.platform !== 'linux') {
  console.error('berth: the sendfile addon is for Linux only; blobs are served through streams');
  process.exit(0);
}
const r = spawnSync(cmd, [...args, 'rebuild', '--directory', here], { stdio: strict ? 'inherit' : 'pipe' });
if (r.status !== 0) {
  const why =
    r.error?.message ??
    (r.stderr?.toString().trim().split('\n').slice(-3).join('\n') || `status ${r.status}`);
  console.error(`berth: the optional sendfile addon did not build (needs g++, make, python3): ${why}`);
  console.error('berth: blobs will be served through streams; `npm run build:native` shows the whole error');
  process.exit(strict ? 1 : 0);
}
