/**
 * The open-file limit: how many processes can run at once before spawning fails with EMFILE.
 *
 * @module
 */

import { missingReadPermission } from "./permissions.ts";

/** File descriptors one running job holds in this process: stdin, stdout, stderr pipes, pidfd. */
const FDS_PER_JOB = 4;
/** Kept free for everything else (workers, sockets, the caller's own files). */
const RESERVE = 64;

/**
 * The most jobs that can run at once under the soft open-file limit (`ulimit -n`), counting the
 * descriptors already open and `extraPerJob` output files per job; null when it cannot be known
 * (not Linux, or no read access to `/proc/self`).
 */
export function maxConcurrentJobs(extraPerJob: number): number | null {
  if (Deno.build.os !== "linux") return null;
  if (missingReadPermission("/proc/self/limits") || missingReadPermission("/proc/self/fd")) {
    return null;
  }
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
    if (soft === undefined || soft === "unlimited") return null;
    const open = [...Deno.readDirSync("/proc/self/fd")].length;
    return Math.max(1, Math.floor((Number(soft) - open - RESERVE) / (FDS_PER_JOB + extraPerJob)));
  } catch {
    return null;
  }
}
