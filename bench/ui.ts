// Bench group "ui": the web UI's repository (tags) page of a repository with many tags, signed in, against the /v2 tags list of the same repository measured in the same run.
import { randomBytes } from 'node:crypto';
import type { Ctx, Measure } from './cases.js';
import { addTagsDirectly } from './direct.js';
import { authorization, expectStatus, pool, pushBlob, pushManifest, request, sha256 } from './http.js';
import { imageJson, OCI_MANIFEST } from './images.js';
import { databaseOf, type Server } from './servers.js';
import { timed } from './stats.js';

const REPO = 'bench/ui';
/** distinct images the tags point at, round robin (so the first page's rows name many manifests) */
const IMAGES = { full: 100, quick: 20 };
/** requests per run and per page, one after the other */
const REQUESTS = 10;

/** Pushes `count` small distinct images by digest (each a version) and answers their digests. */
async function seedImages(s: Server, count: number): Promise<string[]> {
  const headers = await authorization(s.url, s.creds, REPO, 'pull,push');
  const digests: string[] = [];
  await pool(
    Array.from({ length: count }, (_, i) => i),
    4,
    async (i) => {
      const layers = [randomBytes(2048), randomBytes(1024)];
      for (const l of layers) await pushBlob(s.url, REPO, l, headers);
      const img = imageJson(
        layers.map((l) => ({ digest: sha256(l), size: l.length })),
        `ui-${i}`,
      );
      await pushBlob(s.url, REPO, img.config, headers);
      await pushManifest(s.url, REPO, img.digest, img.manifest, OCI_MANIFEST, headers);
      digests[i] = img.digest;
    },
  );
  return digests;
}

/** The cookies of a signed-in UI session: the sign-in form fetched (its CSRF token and cookie), then sent. */
export async function uiSession(s: Server): Promise<string> {
  const form = await expectStatus(200, 'GET', `${s.url}/sign-in`);
  const cookies = (form.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body.toString('utf8'))?.[1];
  if (!csrf) throw new Error(`GET /sign-in: no _csrf field in the form`);
  const body = new URLSearchParams({ _csrf: csrf, username: s.creds!.user, password: s.creds!.password });
  const signed = await expectStatus([302, 303], 'POST', `${s.url}/sign-in`, {
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookies.join('; ') },
    body: body.toString(),
  });
  const session = (signed.headers['set-cookie'] ?? [])
    .map((c) => c.split(';')[0]!)
    .filter((c) => !c.endsWith('='));
  if (session.length === 0) throw new Error('POST /sign-in set no cookie');
  return session.join('; ');
}

export async function uiPages(ctx: Ctx): Promise<void> {
  const s = ctx.berth;
  const tags = ctx.sizes.tags;
  const images = tags >= 10_000 ? IMAGES.full : IMAGES.quick;
  const setup = await timed(async () => {
    const digests = await seedImages(s, images);
    await addTagsDirectly(databaseOf(s), REPO, digests, tags, 'v');
  });
  ctx.log(`ui: ${tags} tags over ${images} images set up in ${setup.seconds.toFixed(1)} s`);
  const cookie = await uiSession(s);
  const v2 = await authorization(s.url, s.creds, REPO, 'pull');
  const page = async () => {
    const a = await request('GET', `${s.url}/repositories/${REPO}`, { headers: { Cookie: cookie } });
    const text = a.body.toString('utf8');
    // a page of tags, not a sign-in form or an error page
    if (a.status !== 200 || !/v\d+/.test(text) || !text.includes(REPO))
      throw new Error(`GET /repositories/${REPO}: ${a.status} ${text.slice(0, 300)}`);
  };
  const list = async () => {
    const a = await request('GET', `${s.url}/v2/${REPO}/tags/list`, { headers: v2 });
    const n = a.status === 200 ? (JSON.parse(a.body.toString('utf8')) as { tags: string[] }).tags.length : 0;
    if (n !== tags) throw new Error(`GET /v2/${REPO}/tags/list: ${a.status}, ${n} tags, not ${tags}`);
  };
  // warm both up (first compilation of the page's code paths, SQLite's page cache)
  await page();
  await list();
  const m: Measure = {
    id: 'ui-repository-page',
    label: `repository page (tags) of a repository of ${tags.toLocaleString('en-US')} tags`,
    unit: 'ms',
    better: 'lower',
    berth: [],
    reference: [],
    referenceName: `/v2 tags list (all ${tags.toLocaleString('en-US')})`,
    target: { max: 300 },
    note: `berth: GET /repositories/${REPO} signed in (the first page of tags, their manifests read); reference: GET /v2/${REPO}/tags/list of berth, every tag in one answer; ${REQUESTS} requests of each per run, one after the other`,
  };
  ctx.measures.push(m);
  for (let r = 0; r < ctx.sizes.runs; r++) {
    for (let i = 0; i < REQUESTS; i++) {
      const first = (r + i) % 2 === 0;
      const one = async (fn: () => Promise<void>, into: number[]) =>
        into.push((await timed(fn)).seconds * 1000);
      if (first) {
        await one(page, m.berth);
        await one(list, m.reference);
      } else {
        await one(list, m.reference);
        await one(page, m.berth);
      }
    }
    ctx.log(
      `ui: run ${r + 1}/${ctx.sizes.runs}: repository page ${m.berth.at(-1)!.toFixed(1)} ms, tags list ${m.reference.at(-1)!.toFixed(1)} ms`,
    );
  }
}
