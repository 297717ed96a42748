// /api/v1/remotes: the registries content is brought in from, added, listed, shown, edited and removed (administrators).
import { z } from 'zod';
import type { Berth } from '../app.js';
import { BerthError } from '../core/errors.js';
import type { RouteContext } from '../http/router.js';

/** The settings a remote takes; the service checks their values (URL, patterns, platforms…) and names what is wrong. */
const settings = {
  url: z.string(),
  username: z.string().nullable(),
  password: z.string().nullable(),
  caPem: z.string().nullable(),
  tlsVerify: z.boolean(),
  include: z.array(z.string()),
  exclude: z.array(z.string()),
  platforms: z.array(z.string()),
  referrers: z.union([z.string(), z.array(z.string())]),
  policy: z.string(),
  concurrency: z.number(),
  requestsPerSecond: z.number().nullable(),
};

const NewRemote = z
  .object({ name: z.string(), ...settings })
  .partial()
  .required({ name: true, url: true })
  .strict();
const RemoteEdit = z.object(settings).partial().strict();

const FIELDS =
  '"username", "password", "caPem" (PEM), "tlsVerify" (boolean), "include"/"exclude" (tag globs, tags or digests), ' +
  '"platforms" (["linux/amd64"]), "referrers" ("none", "all" or artifact types), "policy" ("immediate" or ' +
  '"on_demand"), "concurrency" (1-64), "requestsPerSecond" (1-10000 or null)';

export const NewRemoteBody = {
  schema: NewRemote,
  expected: `{"name": "hub", "url": "https://registry-1.docker.io", …} with optional ${FIELDS}`,
  multiline: ['caPem'],
};
export const RemoteEditBody = {
  schema: RemoteEdit,
  expected: `with the settings to change: "url", ${FIELDS}; null clears username, password, caPem, requestsPerSecond`,
  multiline: ['caPem'],
};

type Body = z.infer<typeof RemoteEdit>;

/** What the audit records of an add or edit: the settings given, the password only as "set" or "cleared". */
function auditOf(body: Body & { name?: string }): Record<string, unknown> {
  const { password, caPem, ...rest } = body;
  return {
    ...rest,
    ...(password === undefined ? {} : { password: password === null ? 'cleared' : 'set' }),
    ...(caPem === undefined ? {} : { caPem: caPem === null ? 'cleared' : 'set' }),
  };
}

/** What the service takes from a body: the fields given (referrers as a list or "none"/"all"/"a,b"). */
function changesOf(body: Body) {
  const { referrers, ...rest } = body;
  return {
    ...rest,
    ...(referrers === undefined
      ? {}
      : {
          referrers:
            typeof referrers === 'string' && referrers !== 'none' && referrers !== 'all'
              ? referrers.split(',')
              : referrers,
        }),
  } as Parameters<Berth['remotes']['edit']>[1];
}

export const listRemotes = async (berth: Berth) => ({ remotes: await berth.remotes.list() });

/** POST: 201 with the remote; 409 ALREADY_EXISTS when the name is taken. */
export async function addRemote(berth: Berth, c: RouteContext<never, z.infer<typeof NewRemote>>) {
  const { name, url, ...rest } = c.body;
  const remote = await berth.remotes.add({ name, url, ...changesOf(rest) });
  c.auditDetail = { remote: remote.name, ...auditOf({ url, ...rest }) };
  return c.reply.code(201).send(remote);
}

export const showRemote = async (berth: Berth, c: RouteContext<'remote'>) => berth.remotes.show(c.remote);

/** PATCH: changes the settings given; 200 with the remote. */
export async function editRemote(berth: Berth, c: RouteContext<'remote', Body>) {
  if (Object.keys(c.body).length === 0) {
    throw new BerthError('PARAMETER_INVALID', `say what to change: ${RemoteEditBody.expected}`);
  }
  const remote = await berth.remotes.edit(c.remote, changesOf(c.body));
  c.auditDetail = { remote: remote.name, ...auditOf(c.body) };
  return remote;
}

/** DELETE: 204; 409 REMOTE_IN_USE naming the caches, schedules and repositories that use it. */
export async function removeRemote(berth: Berth, c: RouteContext<'remote'>) {
  await berth.remotes.remove(c.remote);
  c.auditDetail = { remote: c.remote };
  return c.reply.code(204).send();
}
