// Pull commands for docker, podman, skopeo and crane, by tag and by digest, for this server as the visitor reached it.
import type { FastifyRequest } from 'fastify';
import { html, type Html } from '../html.js';

export interface PullTarget {
  tag?: string;
  digest: string;
}

/** The commands, one per tool and reference; over plain HTTP each gets the flag its tool needs for that. */
export function commandsFor(
  host: string,
  plainHttp: boolean,
  name: string,
  ref: string,
): { tool: string; command: string }[] {
  const image = `${host}/${name}${ref}`;
  // the file name a copy is written to: the repository's last segment
  const base = name.slice(name.lastIndexOf('/') + 1);
  return [
    { tool: 'docker', command: `docker pull ${image}` },
    { tool: 'podman', command: `podman pull${plainHttp ? ' --tls-verify=false' : ''} ${image}` },
    {
      tool: 'skopeo',
      command: `skopeo copy${plainHttp ? ' --src-tls-verify=false' : ''} docker://${image} oci-archive:${base}.tar`,
    },
    { tool: 'crane', command: `crane pull${plainHttp ? ' --insecure' : ''} ${image} ${base}.tar` },
  ];
}

/** The pull commands of an image as a small table: by tag (when it has one) and by digest. */
export function pullCommands(req: FastifyRequest, name: string, target: PullTarget): Html {
  const plain = req.protocol === 'http';
  const refs = [
    ...(target.tag !== undefined ? [{ label: 'by tag', ref: `:${target.tag}` }] : []),
    { label: 'by digest', ref: `@${target.digest}` },
  ];
  return html`<table class="pull">
  <tbody>${refs.map(({ label, ref }) =>
    commandsFor(req.host, plain, name, ref).map(
      (c) =>
        html`<tr><th scope="row">${c.tool} <span class="muted">${label}</span></th><td><code>${c.command}</code> <button type="button" class="secondary copy" data-copy="${c.command}" aria-label="Copy the ${c.tool} command ${label}">Copy</button></td></tr>`,
    ),
  )}</tbody>
</table>`;
}

/** Said once per page: over plain HTTP, docker pulls only from registries it was told are insecure. */
export const plainHttpNote = (req: FastifyRequest): Html | string =>
  req.protocol === 'http'
    ? html`<p class="muted">This server speaks plain HTTP: docker pulls from it once it is in <code>insecure-registries</code> (localhost aside); the other tools take the flag shown.</p>`
    : '';
