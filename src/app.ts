// A configured berth instance: its database, blob store and the services the HTTP layer and CLI call.
import { join, resolve } from 'node:path';
import { openDatabase, type Db } from './db/connect.js';
import { FsBlobStore } from './storage/fs-blob-store.js';
import type { BlobStore } from './storage/blob-store.js';
import { Repositories } from './repo/repositories.js';
import { RepositoryContent } from './repo/content.js';
import { BlobUploads } from './repo/blob-uploads.js';
import { Manifests } from './repo/manifests.js';
import { VersionHistory } from './repo/version-history.js';
import { Cleanup } from './repo/cleanup.js';
import { Imports } from './repo/imports.js';
import { Auth, type AuthOptions } from './auth/auth.js';

export interface BerthConfig {
  /** folder of the filesystem blob store (and of the default SQLite database) */
  data: string;
  /** a SQLite file path or postgres://… URL; default: <data>/berth.db */
  database?: string;
  auth?: AuthOptions;
}

export interface Berth {
  config: BerthConfig;
  db: Db;
  store: BlobStore;
  repositories: Repositories;
  content: RepositoryContent;
  uploads: BlobUploads;
  manifests: Manifests;
  history: VersionHistory;
  cleanup: Cleanup;
  imports: Imports;
  auth: Auth;
  close(): Promise<void>;
}

export async function openBerth(config: BerthConfig): Promise<Berth> {
  const data = resolve(config.data);
  const db = await openDatabase(config.database ?? join(data, 'berth.db'));
  const store = new FsBlobStore(join(data, 'store'));
  const auth = new Auth(db.kysely, config.auth);
  await auth.init();
  return {
    config: { ...config, data },
    db,
    store,
    repositories: new Repositories(db.kysely),
    content: new RepositoryContent(db.kysely, store),
    uploads: new BlobUploads(db.kysely, store),
    manifests: new Manifests(db.kysely, store),
    history: new VersionHistory(db.kysely),
    cleanup: new Cleanup(db.kysely, store),
    imports: new Imports(db.kysely, store),
    auth,
    close: () => db.close(),
  };
}
