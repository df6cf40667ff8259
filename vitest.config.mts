import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Files that start clusters and Redis servers would fight for the two cores; run files one
    // at a time and keep the tests inside a file sequential.
    fileParallelism: false,
    pool: "forks",
  },
});
