// Runs before every test file: client commands get a config dir of their own (no test reads a real
// ~/.config/berth or stores a login there), and credentials from the developer's environment do not leak in.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const configDir = mkdtempSync(join(tmpdir(), 'berth-config-'));
process.env.BERTH_CONFIG_DIR = configDir;
delete process.env.BERTH_USERNAME;
delete process.env.BERTH_PASSWORD;
delete process.env.BERTH_SERVER;

afterAll(() => rmSync(configDir, { recursive: true, force: true }));
