/**
 * The module a pool's Web Worker runs: it serves the jobs the main thread posts.
 *
 * @module
 */

import { type JobScope, serveJobs } from "./_serve_jobs.ts";

serveJobs(self as unknown as JobScope);
