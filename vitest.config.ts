import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // a temp BERTH_CONFIG_DIR per test file, no BERTH_USERNAME/BERTH_PASSWORD/BERTH_SERVER from the shell
    setupFiles: ['test/setup.ts'],
  },
});
