// Runs before every test file: client commands get a config dir of their own (no test reads a real
// ~/.config/berth or stores a login there), and credentials from the developer's environment do not leak in.
// After the file, the PostgreSQL database the file's tests used (test/helpers/backend.ts) is dropped, and with
// BERTH_TEST_STORE=s3 the buckets of its data folders (test/helpers/data-store.ts) are removed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { removeProcessDatabase } from './helpers/backend.js';

const configDir = mkdtempSync(join(tmpdir(), 'berth-config-'));
process.env.BERTH_CONFIG_DIR = configDir;
delete process.env.BERTH_USERNAME;
delete process.env.BERTH_PASSWORD;
delete process.env.BERTH_SERVER;

afterAll(async () => {
  rmSync(configDir, { recursive: true, force: true });
  await removeProcessDatabase();
  // (testStoreKind() of helpers/s3.ts, read here so that runs on files never load the S3 client)
  if (process.env.BERTH_TEST_STORE === 's3')
    await (await import('./helpers/data-store.js')).releaseAllDataStores();
});
