// The upstream clients of a process, one per remote (its tokens and limits shared by every caller), made on first use.
import type { Remote, RemoteConnection } from './remote.js';
import type { Upstream } from './upstream.js';

/**
 * Upstream clients by remote name. A remote is read anew on every call (an edit takes effect on the next one); its
 * client is kept while its connection settings stay the same, so that tokens and rate limits are shared.
 */
export class Upstreams {
  private readonly clients = new Map<string, { key: string; client: Upstream }>();

  constructor(
    private readonly remoteOf: (name: string) => Promise<Remote>,
    private readonly make: (conn: RemoteConnection) => Upstream,
  ) {}

  async for(name: string): Promise<Upstream> {
    const { connection } = await this.remoteOf(name);
    const key = JSON.stringify(connection);
    const kept = this.clients.get(name);
    if (kept?.key === key) return kept.client;
    const client = this.make(connection);
    this.clients.set(name, { key, client });
    return client;
  }
}
