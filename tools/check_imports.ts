/**
 * Reads the import graph of `lib/` and fails on an import cycle or on an import against the
 * flow (cli → gateway → ops → driver → ssh → settings → engine, hosts → runtime): the engine knows nothing
 * of ssh, and nothing below imports what is above it.
 *
 * Run: `deno run --allow-read tools/check_imports.ts`
 *
 * @module
 */

import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(new URL("..", import.meta.url).pathname);
const LIB = join(ROOT, "lib");

/** Each folder's place in the flow: a module may import its own folder's and lower ones. */
const RANK: Record<string, number> = {
  cli: 7,
  gateway: 6.5,
  ops: 6,
  driver: 5,
  ssh: 4,
  settings: 3,
  engine: 2,
  hosts: 2,
  runtime: 0,
  ".": 1,
};

const IMPORT =
  /(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"|import\s+"(\.[^"]+)"|import\("(\.[^"]+)"\)/g;

function files(dir: string): string[] {
  return [...Deno.readDirSync(dir)].flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory ? files(path) : entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** A module's folder under lib/ (`.` for the modules at its top). */
function folderOf(path: string): string {
  const parts = relative(LIB, path).split("/");
  return parts.length === 1 ? "." : parts[0];
}

const graph = new Map<string, string[]>();
const problems: string[] = [];
for (const file of files(LIB)) {
  const text = Deno.readTextFileSync(file);
  const targets: string[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2] ?? match[3];
    const target = resolve(dirname(file), specifier);
    if (!target.startsWith(LIB)) continue;
    targets.push(target);
    const from = folderOf(file);
    const to = folderOf(target);
    if (from !== to && (RANK[to] ?? 0) >= (RANK[from] ?? 0)) {
      problems.push(`${relative(ROOT, file)} imports ${relative(ROOT, target)} (${from} → ${to})`);
    }
  }
  graph.set(file, targets);
}

// Cycles: a depth-first search that reports each back edge's loop.
const state = new Map<string, "open" | "done">();
const stack: string[] = [];
function visit(node: string): void {
  state.set(node, "open");
  stack.push(node);
  for (const next of graph.get(node) ?? []) {
    if (state.get(next) === "open") {
      const loop = [...stack.slice(stack.indexOf(next)), next].map((p) => relative(ROOT, p));
      problems.push(`import cycle: ${loop.join(" → ")}`);
    } else if (!state.has(next)) {
      visit(next);
    }
  }
  stack.pop();
  state.set(node, "done");
}
for (const node of graph.keys()) if (!state.has(node)) visit(node);

if (problems.length > 0) {
  console.error(problems.join("\n"));
  Deno.exit(1);
}
console.log(`imports: ${graph.size} modules in lib/, no cycle, every import along the flow`);
