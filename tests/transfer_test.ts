import { failed, ok } from "./fixture/outcomes.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "./fixture/assert.ts";
import { processesMatching, timeUntil, uniqueMarker } from "./fixture/processes.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withTempDir } from "./fixture/temp_dir.ts";
import { call, copy, type CopyResult, ParallaxError, slurp, type SlurpResult } from "../mod.ts";
import { escapeGlob, scpDownloadArgv, scpUploadArgv } from "../lib/ssh/_scp_argv.ts";
import { resolveSettings } from "../lib/settings/_settings.ts";
import { resolveTransferSettings } from "../lib/settings/_transfer_settings.ts";
import { parseHosts } from "../lib/hosts/parse.ts";

type AnyResult = CopyResult | SlurpResult | ParallaxError | undefined;

/** Every path under `root` with the file's text, or "<dir>" for a folder. */
async function tree(root: string, prefix = ""): Promise<Record<string, string>> {
  const entries: Record<string, string> = {};
  for await (const entry of Deno.readDir(`${root}/${prefix}`)) {
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory) {
      entries[path] = "<dir>";
      Object.assign(entries, await tree(root, path));
    } else {
      entries[path] = await Deno.readTextFile(`${root}/${path}`);
    }
  }
  return entries;
}

/** A temporary folder that the unprivileged remote user may traverse too. */
function withSharedDir(fn: (dir: string) => Promise<void>): Promise<void> {
  return withTempDir(fn, { prefix: "parallax-transfer-", mode: 0o755 });
}

/** 20 MB of zeros in `dir`, named by a fresh marker that its scp and ssh will carry. */
async function bigMarkedFile(dir: string): Promise<{ marker: string; big: string }> {
  const marker = uniqueMarker();
  const big = `${dir}/${marker}.bin`;
  await Deno.writeFile(big, new Uint8Array(20_000_000));
  return { marker, big };
}

const AWKWARD = `we ird 'q' "d" $(touch PWNED) \`touch PWNED\` *?[ab] é✓`;

Deno.test("scp argv: SFTP mode, flags, -P port, local paths after --, IPv6 in brackets", () => {
  const [host, v6] = parseHosts(["admin@web1:2222", "[::1]:22"]);
  const settings = resolveSettings({ sshExtra: ["-F", "cfg"] }, 0);
  const transfer = resolveTransferSettings({ preserve: true, compress: true, bandwidthLimit: 800 });
  const up = scpUploadArgv({ host, settings, transfer }, ["a:b", "/abs"], "dst dir");
  assertEquals(up.slice(0, 9), ["scp", "-s", "-r", "-p", "-C", "-l", "800", "-F", "cfg"]);
  assertEquals(up.slice(-6), ["-P", "2222", "--", "./a:b", "/abs", "admin@web1:dst dir"]);
  const down = scpDownloadArgv(
    { host: v6, settings, transfer },
    "/var/log/*.log",
    "out/[::1]:22/x",
  );
  assertEquals(down.slice(-2), ["[::1]:/var/log/\\*.log", "./out/[::1]:22/x"]);
  assertEquals(resolveTransferSettings({}), {
    recursive: true,
    preserve: false,
    compress: false,
    bandwidthLimit: undefined,
    scpPath: "scp",
  });
  assertEquals(escapeGlob("a\\b*c?[d]"), "a\\\\b\\*c\\?\\[d\\]");
  assertThrows(() => resolveTransferSettings({ bandwidthLimit: 0 }), RangeError, "bandwidthLimit");
});

Deno.test("copy() sends one file to every host and reports the remote path", async () => {
  await using sshd = await startSshd({ aliases: 3, unprivileged: false });
  await withSharedDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/app.conf`, "port = 8080\n");
    const results = await copy(sshd.aliases, `${dir}/app.conf`, `${dir}/remote.conf`, {
      sshExtra: sshd.sshExtra,
    });
    assertEquals([...results.keys()], sshd.aliases);
    for (const [host, result] of results) {
      assertEquals(ok(result).host, host);
      assertEquals(ok(result).path, `${dir}/remote.conf`);
    }
    assertEquals(await Deno.readTextFile(`${dir}/remote.conf`), "port = 8080\n");
  });
});

Deno.test("copy() sends a folder tree with nested and empty folders", async () => {
  await using sshd = await startSshd({ aliases: 2, unprivileged: false });
  await withSharedDir(async (dir) => {
    await Deno.mkdir(`${dir}/site/a/b/c`, { recursive: true });
    await Deno.mkdir(`${dir}/site/empty`);
    await Deno.writeTextFile(`${dir}/site/index.html`, "<h1>hi</h1>\n");
    await Deno.writeTextFile(`${dir}/site/a/b/c/deep.txt`, "deep\n");
    // The hosts share one disk here: into an existing folder, every copy lands at copied/site.
    await Deno.mkdir(`${dir}/copied`);
    const results = await copy(sshd.aliases, `${dir}/site`, `${dir}/copied`, {
      sshExtra: sshd.sshExtra,
    });
    for (const result of results.values()) ok(result);
    assertEquals(await tree(`${dir}/copied/site`), await tree(`${dir}/site`));
    assertEquals((await tree(`${dir}/copied/site`))["empty"], "<dir>");
  });
});

Deno.test("copy() sends several sources at once into a folder", async () => {
  await using sshd = await startSshd({ aliases: 1, unprivileged: false });
  await withSharedDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/one`, "1\n");
    await Deno.writeTextFile(`${dir}/two`, "2\n");
    await Deno.mkdir(`${dir}/three`);
    await Deno.writeTextFile(`${dir}/three/x`, "3\n");
    await Deno.mkdir(`${dir}/dest`);
    const results = await copy(
      ["h001"],
      [`${dir}/one`, `${dir}/two`, `${dir}/three`],
      `${dir}/dest`,
      {
        sshExtra: sshd.sshExtra,
      },
    );
    ok(results.get("h001"));
    assertEquals(await tree(`${dir}/dest`), {
      one: "1\n",
      two: "2\n",
      three: "<dir>",
      "three/x": "3\n",
    });
  });
});

Deno.test("copy() moves a 100 MB file intact, checked by SHA-256 at the other end", async () => {
  await using sshd = await startSshd({ aliases: 1, unprivileged: false });
  await withSharedDir(async (dir) => {
    const big = `${dir}/big.bin`;
    const made = await new Deno.Command("sh", {
      args: ["-c", `head -c 104857600 /dev/urandom > '${big}' && sha256sum '${big}'`],
    }).output();
    assert(made.success);
    const localSum = new TextDecoder().decode(made.stdout).split(" ")[0];
    const results = await copy(["h001"], big, `${dir}/big.copy`, {
      sshExtra: sshd.sshExtra,
      timeout: 120,
    });
    ok(results.get("h001"));
    const remote = await call(["h001"], `sha256sum '${dir}/big.copy'`, { sshExtra: sshd.sshExtra });
    const remoteResult = remote.get("h001");
    assert(!(remoteResult instanceof ParallaxError) && remoteResult !== undefined);
    assertEquals(remoteResult.stdout.split(" ")[0], localSum);
  });
});

Deno.test("copy() and slurp() pass awkward paths literally and never run them", async () => {
  await using sshd = await startSshd({ aliases: 1, unprivileged: false });
  await withSharedDir(async (dir) => {
    await Deno.mkdir(`${dir}/local`);
    await Deno.mkdir(`${dir}/remote`);
    await Deno.writeTextFile(`${dir}/local/${AWKWARD}`, "awkward\n");
    const sent = await copy(["h001"], `${dir}/local/${AWKWARD}`, `${dir}/remote/${AWKWARD}.sent`, {
      sshExtra: sshd.sshExtra,
    });
    ok(sent.get("h001"));
    assertEquals(await Deno.readTextFile(`${dir}/remote/${AWKWARD}.sent`), "awkward\n");

    // A sibling that the glob in the name would match must not be fetched instead.
    await Deno.writeTextFile(`${dir}/remote/${AWKWARD.replace("*?[ab]", "xyb")}.sent`, "decoy\n");
    const fetched = await slurp(["h001"], `${dir}/remote/${AWKWARD}.sent`, `${AWKWARD}.got`, {
      sshExtra: sshd.sshExtra,
      localdir: `${dir}/slurped`,
    });
    const path = ok(fetched.get("h001")).path;
    assertEquals(path, `${dir}/slurped/h001/${AWKWARD}.got`);
    assertEquals(await Deno.readTextFile(path), "awkward\n");
    for (const place of [dir, `${dir}/local`, `${dir}/remote`, Deno.cwd()]) {
      const names = [...Deno.readDirSync(place)].map((e) => e.name);
      assertEquals(names.includes("PWNED"), false, `a path was executed in ${place}`);
    }
  });
});

Deno.test("copy() refuses a missing local source by name before contacting any host", async () => {
  const missing = `/nonexistent-${crypto.randomUUID()}/file`;
  const error = await assertRejects(
    () => copy(["refused-if-contacted"], missing, "/tmp/x", { scpPath: "/nonexistent/scp" }),
    Deno.errors.NotFound,
    missing,
  );
  assertStringIncludes(error.message, "no such file");
  await withSharedDir(async (dir) => {
    await assertRejects(
      () => copy(["h001"], dir, "x", { recursive: false }),
      TypeError,
      "is a folder",
    );
  });
  await assertRejects(() => copy(["h001"], [], "x"), TypeError, "no local source");
  await assertRejects(() => copy(["h001"], "a\0b", "x"), TypeError, "local source");
});

Deno.test("copy() to a destination the remote user may not write is a transfer error for that host", async () => {
  await using sshd = await startSshd({ aliases: 2, unprivileged: false });
  const user = await sshd.unprivilegedUser();
  await withSharedDir(async (dir) => {
    await Deno.mkdir(`${dir}/locked`, { mode: 0o555 });
    await Deno.chmod(`${dir}/locked`, 0o555);
    await Deno.mkdir(`${dir}/open`, { mode: 0o777 });
    await Deno.chmod(`${dir}/open`, 0o777);
    await Deno.writeTextFile(`${dir}/file`, "data\n");
    const results = await copy(
      [`${user}@h001`, `${user}@h002`],
      `${dir}/file`,
      `${dir}/locked/file`,
      { sshExtra: sshd.sshExtra },
    );
    for (const result of results.values()) {
      assertEquals(failed(result).kind, "transfer");
      assertStringIncludes(failed(result).message, "Permission denied");
    }
    const fine = await copy([`${user}@h001`], `${dir}/file`, `${dir}/open/file`, {
      sshExtra: sshd.sshExtra,
    });
    ok(fine.get(`${user}@h001`));
  });
});

Deno.test("copy() with preserve keeps the mode and modification time", async () => {
  await using sshd = await startSshd({ aliases: 1, unprivileged: false });
  await withSharedDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/old`, "old\n");
    await Deno.chmod(`${dir}/old`, 0o640);
    const mtime = new Date("2001-02-03T04:05:06Z");
    await Deno.utime(`${dir}/old`, mtime, mtime);
    for (const [preserve, name] of [[true, "kept"], [false, "fresh"]] as const) {
      ok(
        (await copy(["h001"], `${dir}/old`, `${dir}/${name}`, {
          sshExtra: sshd.sshExtra,
          preserve,
        }))
          .get("h001"),
      );
    }
    const kept = await Deno.stat(`${dir}/kept`);
    assertEquals(kept.mtime?.getTime(), mtime.getTime());
    assertEquals(kept.mode! & 0o777, 0o640);
    assert((await Deno.stat(`${dir}/fresh`)).mtime!.getTime() > mtime.getTime());
  });
});

Deno.test("slurp() lands the same file from 100 hosts as 100 files, one folder per host", async () => {
  await using sshd = await startSshd({ aliases: 100 });
  await withSharedDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/report.txt`, "report\n");
    const results = await slurp(sshd.aliases, `${dir}/report.txt`, "reports/report.txt", {
      sshExtra: sshd.sshExtra,
      localdir: `${dir}/collected`,
    });
    assertEquals(results.size, 100);
    for (const alias of sshd.aliases) {
      const path = ok(results.get(alias)).path;
      assertEquals(path, `${dir}/collected/${alias}/reports/report.txt`);
      assertEquals(await Deno.readTextFile(path), "report\n");
    }
    assertEquals([...Deno.readDirSync(`${dir}/collected`)].length, 100);
  });
});

Deno.test("slurp() gives hosts that share a name distinct folders, all inside localdir", async () => {
  await using sshd = await startSshd({ aliases: 2, unprivileged: false });
  await withSharedDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/f`, "f\n");
    const hosts = ["h001", `h001:${sshd.port}`, `${sshd.user}@h002`, ".hidden"];
    const results = await slurp(hosts, `${dir}/f`, "f", {
      sshExtra: sshd.sshExtra,
      localdir: `${dir}/in`,
    });
    assertEquals(ok(results.get("h001")).path, `${dir}/in/h001/f`);
    assertEquals(ok(results.get(`h001:${sshd.port}`)).path, `${dir}/in/h001:${sshd.port}/f`);
    assertEquals(ok(results.get(`${sshd.user}@h002`)).path, `${dir}/in/${sshd.user}@h002/f`);
    assertEquals(failed(results.get(".hidden")).kind, "connect");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["f", "in"]);
    // The host that failed leaves no folder behind.
    assertEquals([...Deno.readDirSync(`${dir}/in`)].map((e) => e.name).sort(), [
      "h001",
      `h001:${sshd.port}`,
      `${sshd.user}@h002`,
    ]);
    await assertRejects(
      () => slurp(["h001", "../escape"], `${dir}/f`, "f", { localdir: `${dir}/in` }),
      TypeError,
      "scp would read a host with '/' as a local path",
    );
    await assertRejects(
      () => copy(["a/b"], `${dir}/f`, "f"),
      TypeError,
      "scp would read a host with '/' as a local path",
    );
  });
});

Deno.test("slurp() of a missing remote file is a transfer error for that host alone", async () => {
  await using sshd = await startSshd({ aliases: 2, unprivileged: false });
  await withSharedDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/present`, "here\n");
    const results = await slurp([...sshd.aliases, sshd.refused], `${dir}/absent`, "x", {
      sshExtra: sshd.sshExtra,
      localdir: dir,
    });
    for (const alias of sshd.aliases) {
      assertEquals(failed(results.get(alias)).kind, "transfer");
      assertStringIncludes(failed(results.get(alias)).message, "No such file");
    }
    assertEquals(failed(results.get(sshd.refused)).kind, "connect");
    const fine = await slurp(sshd.aliases, `${dir}/present`, "x", {
      sshExtra: sshd.sshExtra,
      localdir: dir,
    });
    for (const result of fine.values()) {
      assertEquals(await Deno.readTextFile(ok(result).path), "here\n");
    }
  });
});

Deno.test("slurp() refuses an absolute or escaping destination before contacting any host", async () => {
  await assertRejects(() => slurp(["h001"], "/etc/hosts", "/tmp/hosts"), TypeError, "relative");
  await assertRejects(
    () => slurp(["h001"], "/etc/hosts", "../../x"),
    TypeError,
    "inside its folder",
  );
  await assertRejects(
    () => slurp(["h001"], "/etc/hosts", "a/../../x"),
    TypeError,
    "inside its folder",
  );
  await assertRejects(() => slurp(["h001"], "", "x"), TypeError, "remote source");
});

Deno.test("copy() killed by its timeout mid-transfer leaves no scp or ssh running", async () => {
  await using sshd = await startSshd({ aliases: 2, unprivileged: false });
  await withSharedDir(async (dir) => {
    const { marker, big } = await bigMarkedFile(dir);
    const results = await copy(sshd.aliases, big, `${dir}/dest-${marker}`, {
      sshExtra: sshd.sshExtra,
      bandwidthLimit: 4000,
      timeout: 1.5,
    });
    for (const result of results.values()) assertEquals(failed(result).kind, "timeout");
    assertEquals(await processesMatching(marker), []);
    assertEquals(await processesMatching(sshd.configPath), [], "scp's own ssh is gone too");
  });
});

Deno.test("slurp() aborted mid-transfer is cancelled and leaves no scp or ssh running", async () => {
  await using sshd = await startSshd({ aliases: 2, unprivileged: false });
  await withSharedDir(async (dir) => {
    const { marker, big } = await bigMarkedFile(dir);
    const controller = new AbortController();
    const slurping = slurp(sshd.aliases, big, "big", {
      sshExtra: sshd.sshExtra,
      bandwidthLimit: 4000,
      localdir: `${dir}/in`,
      signal: controller.signal,
    });
    await timeUntil(async () => (await processesMatching(marker, ["scp"])).length >= 2);
    controller.abort();
    const results = await slurping;
    for (const result of results.values()) assertEquals(failed(result).kind, "cancelled");
    assertEquals(await processesMatching(marker), []);
    assertEquals(await processesMatching(sshd.configPath), [], "scp's own ssh is gone too");
  });
});
