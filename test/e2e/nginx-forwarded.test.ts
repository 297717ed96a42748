// Behind the nginx of docs/deploy.md, with berth's --trust-proxy naming nginx: a client that forges X-Forwarded-For
// is still one address, for the per-address login limit and in the audit log (runs on either backend).
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeUnless } from '../helpers/backend.js';
import { ADMIN, basic } from '../helpers/in-process.js';
import { nginxBinary, startNginx, type Nginx } from '../helpers/nginx.js';
import { startRealServer, type RealServer } from '../helpers/real-server.js';

const NGINX = nginxBinary();
/** The client's own address: another loopback address than nginx's and berth's (127.0.0.1). */
const CLIENT = '127.0.0.3';

/** A request to nginx from CLIENT; answers the status and the body. */
function fromClient(
  nginx: Nginx,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${nginx.url}${path}`, { method, headers, localAddress: CLIENT }, (res) => {
      let text = '';
      res.on('data', (b: Buffer) => (text += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describeUnless(NGINX !== null, 'nginx is not installed (apt-get install nginx)')(
  'X-Forwarded-For forged by a client, through nginx (docs/deploy.md) to berth --trust-proxy 127.0.0.1',
  () => {
    let work: string;
    let berth: RealServer;
    let nginx: Nginx;
    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), 'nginx-xff-'));
      berth = await startRealServer('nginx-xff', { args: ['--trust-proxy', '127.0.0.1'] });
      nginx = await startNginx(NGINX!, join(work, 'nginx'), [berth.hostPort]);
    });
    afterAll(async () => {
      await nginx?.stop();
      await berth?.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it('records the address nginx saw in the audit log', async () => {
      const admin = { authorization: basic(ADMIN.user, ADMIN.password), 'x-forwarded-for': '192.0.2.66' };
      const made = await fromClient(
        nginx,
        'POST',
        '/api/v1/users',
        { ...admin, 'content-type': 'application/json' },
        JSON.stringify({ name: 'behind', password: 'behind-password' }),
      );
      expect(made.status, made.body).toBe(201);
      const audit = await fromClient(nginx, 'GET', '/api/v1/audit?action=user.create', admin);
      expect(audit.status, audit.body).toBe(200);
      expect(JSON.parse(audit.body).entries[0].address).toBe(CLIENT);
    });

    it('keeps the token realm on the address the client used: X-Forwarded-Host sent by a client is dropped', async () => {
      const r = await new Promise<string | undefined>((resolve, reject) => {
        request(
          `${nginx.url}/v2/`,
          {
            headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
            localAddress: CLIENT,
          },
          (res) => {
            res.resume();
            resolve(res.headers['www-authenticate']);
          },
        )
          .on('error', reject)
          .end();
      });
      expect(r).toContain(`realm="${nginx.url}/token"`);
    });

    it('counts the failed logins of one client under its address: 5 × 401, then 429', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        const r = await fromClient(nginx, 'GET', '/v2/', {
          authorization: basic(`nobody${i}`, `guess-${i}`),
          'x-forwarded-for': `198.51.100.${i}`,
        });
        statuses.push(r.status);
      }
      // (the default policy: the sixth comes well within the first wait of 1 s)
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
    });
  },
);
