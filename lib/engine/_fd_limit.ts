/**
 * The open-file limit: how many processes can run at once before spawning fails with EMFILE.
 *
 * @module
 */

import { missingReadPermission } from "../runtime/_permissions.ts";

/** File descriptors one running job holds in this process: stdin, stdout, stderr pipes, pidfd. */
export const FDS_PER_JOB = 4;
/** Kept free for everything else (workers, sockets, the caller's own files). */
const RESERVE = 64;

/**
 * File descriptors this process may still open for jobs: the soft open-file limit
 * (`ulimit -n`) less those already open and a reserve; null when it cannot be known (not Linux,
 * no read access to `/proc/self`, or no limit).
 */
export function spareFileDescriptors(): number | null {
  if (Deno.build.os !== "linux") return null;
  if (missingReadPermission("/proc/self/limits") || missingReadPermission("/proc/self/fd")) {
    return null;
  }
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
    if (soft === undefined || soft === "unlimited") return null;
    const open = [...Deno.readDirSync("/proc/self/fd")].length;
    return Math.max(FDS_PER_JOB, Number(soft) - open - RESERVE);
  } catch {
    return null;
  }
}
