/**
 * What holding 13.5 MB of text costs on this machine, apart from parallax: decoding 32 outputs of
 * 13.5 MB each into strings that are all kept (as a caller that reads every result's `stdout`
 * does), the same decodes when each string is dropped at once (its memory reused), and filling
 * 32 fresh 13.5 MB buffers that are kept. When the kept decodes cost what the fills cost, and the
 * dropped decodes far less, the time goes to the first touch of fresh memory, not to decoding.
 *
 * Usage: deno run bench/first_touch.ts
 *
 * @module
 */

const SIZE = 13_500_000;
const COUNT = 32;

/** Base64-like text: 76 letters and a newline, over and over. */
function output(): Uint8Array {
  const bytes = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i++) bytes[i] = i % 77 === 76 ? 10 : 65 + (i % 26);
  return bytes;
}

/** Milliseconds per item of `run(i)` over COUNT items, as the median item. */
function perItem(run: (i: number) => void): number {
  const times: number[] = [];
  for (let i = 0; i < COUNT; i++) {
    const started = performance.now();
    run(i);
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[COUNT >> 1];
}

const outputs = Array.from({ length: COUNT }, output);
const decoder = new TextDecoder();
const kept: unknown[] = [];
const rows: [string, number][] = [
  ["decode, every string kept", perItem((i) => kept.push(decoder.decode(outputs[i])))],
  ["decode, each string dropped", perItem((i) => decoder.decode(outputs[i]).length)],
  [
    "fill a fresh buffer, every buffer kept",
    perItem(() => kept.push(new Uint8Array(SIZE).fill(1))),
  ],
];
console.log(`| ${COUNT} × 13.5 MB | ms each (median) |\n| --- | --- |`);
for (const [name, ms] of rows) console.log(`| ${name} | ${ms.toFixed(1)} |`);
