import { failed, ok } from "./fixture/outcomes.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./fixture/assert.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withTempDir } from "./fixture/temp_dir.ts";
import { copy, slurp } from "../mod.ts";

/** A remote tree the test sshd's account can read: tree/top.txt, tree/sub/inner.txt. */
async function remoteTree(dir: string): Promise<string> {
  await Deno.chmod(dir, 0o755);
  await Deno.mkdir(`${dir}/remote/tree/sub`, { recursive: true, mode: 0o755 });
  await Deno.writeTextFile(`${dir}/remote/tree/top.txt`, "top\n", { mode: 0o644 });
  await Deno.writeTextFile(`${dir}/remote/tree/sub/inner.txt`, "inner\n", { mode: 0o644 });
  for (const path of ["remote", "remote/tree", "remote/tree/sub"]) {
    await Deno.chmod(`${dir}/${path}`, 0o755);
  }
  return `${dir}/remote/tree`;
}

Deno.test("slurp into an existing folder never writes through a link planted inside it, and lays files out as through a gateway", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    const tree = await remoteTree(dir);
    const localdir = `${dir}/local`;
    // A first slurp makes the folder; then a link is planted where a folder of it belongs.
    ok((await slurp(["h001"], tree, "got", { sshExtra: sshd.sshExtra, localdir, recursive: true }))
      .get("h001"));
    await Deno.mkdir(`${dir}/victim`);
    await Deno.remove(`${localdir}/h001/got/sub`, { recursive: true });
    await Deno.symlink(`${dir}/victim`, `${localdir}/h001/got/sub`);
    await Deno.remove(`${localdir}/h001/got/top.txt`);
    await Deno.symlink(`${dir}/victim/top-target`, `${localdir}/h001/got/top.txt`);
    const again = await slurp(["h001"], tree, "got", {
      sshExtra: sshd.sshExtra,
      localdir,
      recursive: true,
    });
    ok(again.get("h001"));
    assertEquals([...Deno.readDirSync(`${dir}/victim`)], [], "nothing went through the links");
    const sub = Deno.lstatSync(`${localdir}/h001/got/sub`);
    assert(sub.isDirectory && !sub.isSymlink, "a real folder took the link's place");
    assertEquals(Deno.readTextFileSync(`${localdir}/h001/got/sub/inner.txt`), "inner\n");
    assertEquals(Deno.readTextFileSync(`${localdir}/h001/got/top.txt`), "top\n");
    // The same layout as through a gateway: got/sub, not got/tree/sub.
    assertEquals(
      [...Deno.readDirSync(`${localdir}/h001/got`)].map((e) => e.name).sort(),
      ["sub", "top.txt"],
    );
    assertEquals(
      [...Deno.readDirSync(`${localdir}/h001`)].map((e) => e.name),
      ["got"],
      "no receiving folder left behind",
    );
  });
});

Deno.test("a slurp that times out leaves no partial file where the file belongs", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    await Deno.chmod(dir, 0o755);
    await Deno.writeFile(`${dir}/big.bin`, new Uint8Array(3_000_000), { mode: 0o644 });
    const localdir = `${dir}/local`;
    const results = await slurp(["h001"], `${dir}/big.bin`, "big.bin", {
      sshExtra: sshd.sshExtra,
      localdir,
      bandwidthLimit: 400,
      timeout: 2,
    });
    assertEquals(failed(results.get("h001")).kind, "timeout");
    const left = [...Deno.readDirSync(localdir)].flatMap((e) =>
      e.isDirectory ? [...Deno.readDirSync(`${localdir}/${e.name}`)].map((i) => i.name) : []
    );
    assertEquals(left, [], "neither the file nor the receiving folder is left");
  });
});

Deno.test("slurp with preserve keeps modes but never setuid, setgid or write for others", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    await Deno.chmod(dir, 0o755);
    await Deno.writeTextFile(`${dir}/tool`, "#!/bin/sh\n");
    await Deno.chmod(`${dir}/tool`, 0o6777);
    await Deno.writeTextFile(`${dir}/plain`, "x\n");
    await Deno.chmod(`${dir}/plain`, 0o744);
    const localdir = `${dir}/local`;
    for (const name of ["tool", "plain"]) {
      const results = await slurp(["h001"], `${dir}/${name}`, name, {
        sshExtra: sshd.sshExtra,
        localdir,
        preserve: true,
      });
      ok(results.get("h001"));
    }
    assertEquals(Deno.statSync(`${localdir}/h001/tool`).mode! & 0o7777, 0o755);
    assertEquals(Deno.statSync(`${localdir}/h001/plain`).mode! & 0o7777, 0o744);
  });
});

Deno.test("slurp without preserve gives files the modes of files made here, as through a gateway", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    await Deno.chmod(dir, 0o755);
    for (const [name, mode] of [["suid", 0o4777], ["owner", 0o744], ["open", 0o766]] as const) {
      await Deno.writeTextFile(`${dir}/${name}`, "x\n");
      await Deno.chmod(`${dir}/${name}`, mode);
    }
    const localdir = `${dir}/local`;
    for (const name of ["suid", "owner", "open"]) {
      ok((await slurp(["h001"], `${dir}/${name}`, name, { sshExtra: sshd.sshExtra, localdir }))
        .get("h001"));
      assertEquals(Deno.statSync(`${localdir}/h001/${name}`).mode! & 0o7777, 0o666 & ~Deno.umask());
    }
  });
});

Deno.test("copy refuses, before any host is contacted, a folder holding a link that leads nowhere or to a folder", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/tree/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/tree/file`, "x\n");
    await Deno.symlink(`${dir}/tree/file`, `${dir}/tree/sub/to-file`);
    const options = { sshPath: "/nonexistent/ssh", scpPath: "/nonexistent/scp" };
    await Deno.symlink(`${dir}/nowhere`, `${dir}/tree/sub/dangling`);
    await assertRejects(
      () => copy(["h1"], `${dir}/tree`, "/tmp/x", options),
      TypeError,
      "leads nowhere",
    );
    await Deno.remove(`${dir}/tree/sub/dangling`);
    await Deno.symlink(`${dir}/tree`, `${dir}/tree/sub/to-folder`);
    await assertRejects(
      () => copy(["h1"], `${dir}/tree`, "/tmp/x", options),
      TypeError,
      "is a link to a folder",
    );
    await Deno.remove(`${dir}/tree/sub/to-folder`);
    // A link to a file is copied as that file: the check lets it through (scp then runs).
    const results = await copy(["h1"], `${dir}/tree`, "/tmp/x", options);
    assertEquals(failed(results.get("h1")).kind, "spawn");
  });
});

Deno.test('copy with links: "skip" sends the tree without its links (a dangling one, one to a folder, one to a file) and leaves no private copy behind', async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/tree/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/tree/file`, "x\n");
    await Deno.chmod(`${dir}/tree/file`, 0o640);
    await Deno.symlink(`${dir}/tree/file`, `${dir}/tree/sub/to-file`);
    await Deno.symlink(`${dir}/nowhere`, `${dir}/tree/sub/dangling`);
    await Deno.symlink(`${dir}/tree`, `${dir}/tree/sub/to-folder`);
    const out = `${dir}/out`;
    await Deno.mkdir(out);
    await Deno.chmod(out, 0o777);
    const before = [...Deno.readDirSync("/tmp")].filter((e) => e.name.startsWith("plx-copy-"));
    const results = await copy(
      [sshd.aliases[0]],
      `${dir}/tree`,
      `${out}/direct`,
      { sshExtra: sshd.sshExtra, links: "skip", preserve: true },
    );
    ok(results.get(sshd.aliases[0]));
    assertEquals(await Deno.readTextFile(`${out}/direct/file`), "x\n");
    assertEquals((await Deno.stat(`${out}/direct/file`)).mode! & 0o777, 0o640);
    assertEquals(
      [...Deno.readDirSync(`${out}/direct/sub`)],
      [],
      "no link, and nothing in its place",
    );
    const after = [...Deno.readDirSync("/tmp")].filter((e) => e.name.startsWith("plx-copy-"));
    assertEquals(after.length, before.length, "the private copy is removed");
    // The sources themselves are untouched.
    assert((await Deno.lstat(`${dir}/tree/sub/to-file`)).isSymlink);
    await assertRejects(
      () => copy([sshd.aliases[0]], `${dir}/tree/sub/to-file`, out, { links: "skip" }),
      TypeError,
      "every source is a link",
    );
  }, { mode: 0o755 });
});

Deno.test("slurp into a shared folder: a host folder another user made first is refused (no write through a folder they could swap), the others go on", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const other = await sshd.unprivilegedUser();
  const uid = Number(
    new TextDecoder().decode(
      (await new Deno.Command("id", { args: ["-u", other], stdout: "piped" }).output()).stdout,
    ).trim(),
  );
  await withTempDir(async (dir) => {
    // A shared folder as /tmp is: sticky, open to all; the other user's host folder in it.
    const shared = `${dir}/shared`;
    await Deno.mkdir(shared);
    await Deno.chmod(shared, 0o1777);
    const [mine, theirs] = sshd.aliases;
    await Deno.mkdir(`${shared}/${theirs}`);
    await Deno.chmod(`${shared}/${theirs}`, 0o777);
    Deno.chownSync(`${shared}/${theirs}`, uid, uid);
    const results = await slurp(sshd.aliases, "/etc/hostname", "got", {
      sshExtra: sshd.sshExtra,
      localdir: shared,
    });
    ok(results.get(mine));
    const refused = failed(results.get(theirs));
    assertEquals(refused.kind, "local");
    assertStringIncludes(refused.message, "belongs to another user");
    assertEquals([...Deno.readDirSync(`${shared}/${theirs}`)], [], "nothing was written there");
  }, { mode: 0o755 });
});
