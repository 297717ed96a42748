// The README runs as written: its ```sh blocks, in order, each exiting 0, against a fresh real server and fresh clients.
//
// The convention, which README.md states where its runnable part begins:
// - every fenced block whose info string is exactly `sh` is run, in the order of the README, each by its own
//   `bash -euo pipefail` in one working folder (the checkout as the README sees it: `./berth` and `examples/`);
//   variables a block sets (TOKEN=…) reach the blocks after it;
// - a block right after the line `<!-- readme-test: skip (reason) -->` is not run: the quick start's `npm install
//   && npm start`, the server with BERTH_ADMIN_PASSWORD (this test starts that server itself, with that password,
//   on a free port), docker (needs an engine);
// - a line starting with `! ` must fail (the shell's `!`; here the command is checked to exit non-zero);
// - `127.0.0.1:5000`, the server's embedded default, is rewritten to the test server's address, and BERTH_SERVER
//   points `./berth` there.
// The clients get a temporary HOME, XDG dirs and auth file; podman (as root, like test/e2e/podman.test.ts) a
// storage of its own. skopeo and podman are needed: missing, the blocks are skipped with the reason (and fail
// under CI=true).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it as vitestIt } from 'vitest';
import { hasCommand, removeTestDatabase, skipUnless, testDatabaseUrl } from '../helpers/backend.js';
import { http } from '../helpers/in-process.js';
import { ROOT, startRealServer, type RealServer } from '../helpers/real-server.js';

export interface ReadmeBlock {
  /** 1-based line of the opening fence */
  line: number;
  text: string;
  /** the reason given by a `<!-- readme-test: skip (…) -->` marker right before the block */
  skip?: string;
}

const SKIP = /^<!--\s*readme-test:\s*skip\b\s*(.*?)\s*-->$/;

/** The README's fenced ```sh blocks, with the skip marker of each. */
export function shellBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(.*)$/.exec(lines[i]!);
    if (!fence) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    if (end < 0) throw new Error(`README line ${i + 1}: a fence that is never closed`);
    if (fence[1]!.trim() === 'sh') {
      let k = i - 1;
      while (k >= 0 && lines[k]!.trim() === '') k--;
      const marker = k >= 0 ? SKIP.exec(lines[k]!.trim()) : null;
      blocks.push({
        line: i + 1,
        text: lines.slice(i + 1, end).join('\n'),
        ...(marker ? { skip: marker[1]!.replace(/^\((.*)\)$/, '$1') || 'marked skip' } : {}),
      });
    }
    i = end;
  }
  return blocks;
}

/** A block as bash runs it: `! cmd` lines must fail, and the embedded default address becomes `hostPort`. */
export function scriptOf(block: string, hostPort: string): string {
  return block
    .replaceAll('127.0.0.1:5000', hostPort)
    .split('\n')
    .map((line) => {
      const refused = /^!\s+(.*)$/.exec(line);
      if (!refused) return line;
      const cmd = refused[1]!;
      // (the command's own trailing comment ends at its line; `then` goes on the next one)
      return `if ${cmd}\nthen echo ${JSON.stringify(`README: expected to be refused: ${cmd}`)} >&2; exit 1; fi`;
    })
    .join('\n');
}

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const BLOCKS = shellBlocks(README);
const RUN = BLOCKS.filter((b) => b.skip === undefined);

const isRoot = process.getuid?.() === 0;
const missing = ['skopeo', 'podman'].filter((c) => !hasCommand(c));
const it: typeof vitestIt = !isRoot
  ? (new Proxy(vitestIt.skip, {
      apply: (target, self, [name, ...rest]: unknown[]) =>
        Reflect.apply(target, self, [
          `${String(name)} [skipped: the README's podman commands are tested as root only, like test/e2e/podman.test.ts]`,
          ...rest,
        ]),
    }) as typeof vitestIt)
  : skipUnless(
      missing.length === 0,
      `${missing.join(' and ')} not installed (apt-get install skopeo podman): the README uses them`,
    );

describe('the README convention', () => {
  vitestIt('finds the runnable blocks, and skips only the marked ones', () => {
    const skipped = BLOCKS.filter((b) => b.skip !== undefined);
    expect(skipped.some((b) => /npm install && npm start/.test(b.text))).toBe(true);
    expect(skipped.every((b) => /npm start|docker /.test(b.text))).toBe(true);
    expect(RUN.length).toBeGreaterThanOrEqual(6);
    expect(RUN.some((b) => /\.\/berth upload/.test(b.text))).toBe(true);
    expect(RUN.some((b) => /podman push/.test(b.text))).toBe(true);
  });

  vitestIt('turns `! cmd` into a command that must fail, and the default address into the server', () => {
    const s = scriptOf('! false   # refused\ncurl http://127.0.0.1:5000/v2/', '127.0.0.1:4321');
    expect(s).toBe(
      'if false   # refused\nthen echo "README: expected to be refused: false   # refused" >&2; exit 1; fi\n' +
        'curl http://127.0.0.1:4321/v2/',
    );
  });

  vitestIt('reads a marker only right before its block', () => {
    const md = '<!-- readme-test: skip (why) -->\n\n```sh\na\n```\ntext\n```sh\nb\n```\n```text\nc\n```\n';
    expect(shellBlocks(md)).toEqual([
      { line: 3, text: 'a', skip: 'why' },
      { line: 7, text: 'b' },
    ]);
  });
});

/** The admin password the README starts its server with. */
const ADMIN_PASSWORD = /BERTH_ADMIN_PASSWORD='([^']+)'/.exec(README)?.[1];

let server: RealServer;
let database: string;
let work: string;
let cwd: string;
let env: NodeJS.ProcessEnv;
/** what each block printed, by its README line */
const outputs = new Map<number, string>();

/** Runs one block in bash; resolves with its exit code, output, and its environment at the end. */
function runBlock(script: string): Promise<{ code: number | null; output: string; env: NodeJS.ProcessEnv }> {
  const envFile = join(work, 'block.env');
  rmSync(envFile, { force: true });
  // set -a: what the block assigns is exported, so `env -0` at its end hands it to the next block
  const wrapped = `set -a\n${script}\nenv -0 > ${JSON.stringify(envFile)}\n`;
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', wrapped], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      let next = env;
      if (code === 0) {
        next = {};
        for (const entry of readFileSync(envFile, 'utf8').split('\0')) {
          const eq = entry.indexOf('=');
          if (eq > 0) next[entry.slice(0, eq)] = entry.slice(eq + 1);
        }
      }
      resolve({ code, output, env: next });
    });
  });
}

describe('the README runs as written', () => {
  beforeAll(async () => {
    if (!isRoot || missing.length > 0) return;
    if (!ADMIN_PASSWORD) throw new Error("README.md starts no server with BERTH_ADMIN_PASSWORD='…'");
    work = mkdtempSync(join(tmpdir(), 'readme-'));
    cwd = join(work, 'checkout');
    const home = join(work, 'home');
    const run = join(work, 'run');
    for (const d of [cwd, home, join(home, '.docker'), run, join(work, 'tmp')])
      mkdirSync(d, { recursive: true });
    // the checkout as the README sees it, without writing into the real one
    symlinkSync(join(ROOT, 'berth'), join(cwd, 'berth'));
    symlinkSync(join(ROOT, 'examples'), join(cwd, 'examples'));
    // podman's storage, run state and events in the work folder (as root it would use the machine's)
    writeFileSync(
      join(work, 'storage.conf'),
      `[storage]\ndriver = "vfs"\ngraphroot = "${join(work, 'podman-root')}"\nrunroot = "${join(work, 'podman-run')}"\n`,
    );
    writeFileSync(join(work, 'containers.conf'), '[engine]\nevents_logger = "file"\n');
    database = await testDatabaseUrl('readme');
    // `npm start` serves ./berth-data: so does this server, for `berth fsck` of the README
    server = await startRealServer('readme', {
      data: join(cwd, 'berth-data'),
      database,
      env: { BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD },
    });
    env = {
      PATH: process.env.PATH,
      LANG: 'C.UTF-8',
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_RUNTIME_DIR: run,
      REGISTRY_AUTH_FILE: join(run, 'containers', 'auth.json'),
      DOCKER_CONFIG: join(home, '.docker'),
      TMPDIR: join(work, 'tmp'),
      CONTAINERS_STORAGE_CONF: join(work, 'storage.conf'),
      CONTAINERS_CONF: join(work, 'containers.conf'),
      BERTH_SERVER: server.url,
      // `berth fsck` opens the server's database (on PostgreSQL, not the default file in ./berth-data)
      BERTH_DATABASE: database,
    };
  }, 60_000);

  afterAll(async () => {
    if (work && env) {
      // vfs layers are plain folders, but let podman unmount and forget them first
      await new Promise((r) =>
        spawn('podman', ['rmi', '--all', '--force'], { env, stdio: 'ignore' }).on('close', r).on('error', r),
      );
    }
    await server?.stop();
    if (database) await removeTestDatabase(database);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  for (const block of RUN) {
    const first = block.text.split('\n')[0]!.replace(/\s+#.*$/, '');
    it(`README.md line ${block.line}: ${first}`, { timeout: 60_000 }, async () => {
      const r = await runBlock(scriptOf(block.text, server.hostPort));
      if (r.code !== 0) {
        throw new Error(
          `the block at README.md line ${block.line} exited ${r.code}:\n${block.text}\n--- its output:\n${r.output}` +
            `\n--- the server's:\n${server.output().slice(-4000)}`,
        );
      }
      env = r.env;
      outputs.set(block.line, r.output);
    });
  }

  it('left what the README says: the pushed images are there, the refused upload made nothing', async () => {
    const auth = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
    const tags = async (repo: string) => {
      const r = await http('GET', `${server.url}/v2/${repo}/tags/list`, undefined, { authorization: auth });
      return r.status === 200 ? r.json<{ tags: string[] | null }>().tags : r.status;
    };
    expect(await tags('team/myimage')).toEqual(['1.0']);
    expect(await tags('team/multi')).toEqual(['1.0']);
    expect(await tags('library/app')).toEqual(expect.arrayContaining(['base', '1.0', '1.1']));
    expect(await tags('other/app')).toBe(404);
    // the upload block's refusal said why, and its untagged upload how to pull the image
    const uploads = RUN.find((b) => /\.\/berth upload/.test(b.text))!;
    const said = outputs.get(uploads.line) ?? '';
    expect(said).toMatch(
      /berth: BLOB_UNKNOWN: 2 blob\(s\) are neither in the archive nor in repository other\/app/,
    );
    expect(said).toMatch(/warning: the image is untagged: team\/app version 1/);
    expect(said).toMatch(
      /pull it: skopeo copy --src-tls-verify=false docker:\/\/[\d.:]+\/team\/app@sha256:[0-9a-f]{64} oci:app/,
    );
  });
});
