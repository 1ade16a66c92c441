import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    // Pages in a browser under a loaded machine take their time: expect.poll waits up to 15 s.
    expect: { poll: { timeout: 15_000 } },
    hookTimeout: 60_000,
    // Each file gets its own throw-away databases; two cores here.
    maxWorkers: 3,
  },
});
