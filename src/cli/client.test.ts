// The management API client against a stand-in HTTP server: JSON calls, streamed bodies, and errors.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, BerthClient, errorFromResponse, parseServerUrl, repositoryPath } from './client.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = () => {};
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const ociError = (res: ServerResponse, status: number, code: string, message: string, detail?: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ errors: [{ code, message, detail }] }));
};

describe('errorFromResponse', () => {
  it('takes the first error of the OCI error JSON', () => {
    const e = errorFromResponse(
      404,
      '{"errors":[{"code":"NAME_UNKNOWN","message":"no such repo","detail":{"a":1}}]}',
    );
    expect(e).toMatchObject({ code: 'NAME_UNKNOWN', message: 'no such repo', detail: { a: 1 }, status: 404 });
  });

  it('describes an answer that is not the OCI error JSON by its status', () => {
    const e = errorFromResponse(502, '<html>bad gateway</html>', 'Bad Gateway');
    expect(e).toMatchObject({
      code: 'HTTP_502',
      message: 'the server answered 502 Bad Gateway: <html>bad gateway</html>',
    });
  });
});

describe('BerthClient', () => {
  it('keeps the slashes of repository names in paths', () => {
    const c = new BerthClient('http://h:1/prefix');
    expect(c.url(repositoryPath('library/app', '/-/versions')).href).toBe(
      'http://h:1/prefix/api/v1/repositories/library/app/-/versions',
    );
  });

  it('refuses a --server that is not an http(s) URL', () => {
    expect(() => parseServerUrl('localhost:5000')).toThrow('must be an http:// or https:// URL');
    expect(() => parseServerUrl('::')).toThrow('is not a URL');
  });

  it('GETs and POSTs JSON', async () => {
    handler = async (req, res) => {
      const body = req.method === 'POST' ? JSON.parse(await text(req)) : null;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, body }));
    };
    const c = new BerthClient(url);
    expect(await c.getJson('api/v1/repositories')).toEqual({
      method: 'GET',
      url: '/api/v1/repositories',
      body: null,
    });
    expect(await c.postJson('x', { digests: ['d'] })).toMatchObject({
      method: 'POST',
      body: { digests: ['d'] },
    });
  });

  it('turns an error answer into an ApiError', async () => {
    handler = (_req, res) => ociError(res, 404, 'NAME_UNKNOWN', 'repository nope does not exist');
    await expect(new BerthClient(url).getJson('api/v1/repositories/nope')).rejects.toMatchObject({
      code: 'NAME_UNKNOWN',
      message: 'repository nope does not exist',
      status: 404,
    });
  });

  it('says when the server cannot be reached', async () => {
    const err = await new BerthClient('http://127.0.0.1:1').getJson('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toMatch(
      /^cannot reach the berth server at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/,
    );
  });

  it('streams a body, chunked or with its length', async () => {
    handler = async (req, res) => {
      const body = await text(req);
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          length: req.headers['content-length'] ?? null,
          chunked: req.headers['transfer-encoding'] ?? null,
          body,
          type: req.headers['content-type'],
        }),
      );
    };
    const c = new BerthClient(url);
    expect(await c.postStream('a', Readable.from(['ab', 'cd']), 'application/x-tar')).toEqual({
      length: null,
      chunked: 'chunked',
      body: 'abcd',
      type: 'application/x-tar',
    });
    expect(await c.postStream('a', Readable.from(['abcd']), 'application/x-tar', 4)).toMatchObject({
      length: '4',
      chunked: null,
    });
  });

  it('reports the error the server answers before it has read the whole body', async () => {
    handler = (_req, res) => ociError(res, 400, 'ARCHIVE_INVALID', 'the archive holds no manifest');
    const endless = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024));
      },
    });
    await expect(new BerthClient(url).postStream('a', endless, 'application/x-tar')).rejects.toMatchObject({
      code: 'ARCHIVE_INVALID',
      message: 'the archive holds no manifest',
    });
  });

  it('reports a failure to read the body as it is', async () => {
    handler = (req, res) => req.resume().on('end', () => res.end('{}'));
    const failing = new Readable({
      read() {
        this.destroy(new Error('disk on fire'));
      },
    });
    await expect(new BerthClient(url).postStream('a', failing, 'application/x-tar')).rejects.toThrow(
      'disk on fire',
    );
  });
});
