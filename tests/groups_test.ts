/**
 * Node groups and host sets: the groups file, `@name` wherever hosts are read, set operations
 * left to right (ClusterShell's nodeset rules), `parallax hosts`, `-g`, `-a`.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "./fixture/assert.ts";
import { cli } from "./fixture/deno_run.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withTempDir } from "./fixture/temp_dir.ts";
import { allHosts, expandHosts, parseGroups, readHostFile, splitHosts } from "../mod.ts";
import { parseHostFileText } from "../lib/hosts/file.ts";

const FILE = `# the fleet
web: web[01-04]
db: db1,db2        # databases
rack1: web[01-02],db1
all: @web,@db
late: @later       # defined below
later: x1
`;

Deno.test("a groups file: ranges, references (also to groups defined later), comments, the file's order", () => {
  const groups = parseGroups(FILE, "groups");
  assertEquals([...groups.keys()], ["web", "db", "rack1", "all", "late", "later"]);
  assertEquals(groups.get("web"), ["web01", "web02", "web03", "web04"]);
  assertEquals(groups.get("all"), ["web01", "web02", "web03", "web04", "db1", "db2"]);
  assertEquals(groups.get("late"), ["x1"]);
  assertEquals(allHosts(groups), [
    "web01",
    "web02",
    "web03",
    "web04",
    "db1",
    "db2",
    "x1",
  ]);
});

Deno.test("a groups file's mistakes are refused with the file and line: a cycle, an unknown group, a bad line, a group twice, a bad range", () => {
  const cases: [string, string][] = [
    ["a: @b\nb: @c\nc: @a\n", "g:3: groups refer to each other in a cycle: @a → @b → @c → @a"],
    ["a: @a\n", "g:1: groups refer to each other in a cycle: @a → @a"],
    ["# x\na: web1,@nope\n", "g:2: unknown group '@nope'"],
    ["a web1\n", "g:1: expected 'name: hosts'"],
    ["a: x\n\na: y\n", "g:3: group 'a' is defined again (first on line 1)"],
    ["a: web[3-1]\n", "g:1: Cannot expand 'web[3-1]'"],
  ];
  for (const [text, message] of cases) {
    assertThrows(() => parseGroups(text, "g"), TypeError, message);
  }
});

Deno.test("set operations apply left to right: union, difference, intersection, either-but-not-both", () => {
  const groups = parseGroups(FILE, "groups");
  assertEquals(expandHosts("@web!web03", groups), ["web01", "web02", "web04"]);
  assertEquals(expandHosts("@web&@rack1", groups), ["web01", "web02"]);
  assertEquals(expandHosts("@rack1^@db", groups), ["web01", "web02", "db2"]);
  // Left to right: (web ∪ db) ! rack1, not web ∪ (db ! rack1).
  assertEquals(expandHosts("@web,@db!@rack1", groups), ["web03", "web04", "db2"]);
  assertEquals(expandHosts("@web @db!@rack1&web04", groups), ["web04"]);
  assertEquals(expandHosts("web[1-3],web2 web1"), ["web1", "web2", "web3"]);
  assertEquals(expandHosts("admin@web[1-2]:2222!admin@web1:2222"), ["admin@web2:2222"]);
  assertEquals(expandHosts("[::1]:22"), ["[::1]:22"]);
  assertThrows(() => expandHosts("@web"), TypeError, "no groups file");
  assertThrows(
    () => expandHosts("@webs", groups),
    TypeError,
    "no such group (did you mean '@web'?)",
  );
  assertThrows(() => expandHosts("@web!", groups), TypeError, "'!' with no hosts after it");
  assertThrows(() => expandHosts("@web&!x", groups), TypeError, "'&' with no hosts after it");
});

Deno.test("balanced parts, folded", () => {
  const hosts = expandHosts("web[01-10]");
  assertEquals(splitHosts(hosts, 3), ["web[01-04]", "web[05-07]", "web[08-10]"]);
  assertEquals(splitHosts(["a1", "a2"], 5), ["a1", "a2"]);
  assertThrows(() => splitHosts(hosts, 0), TypeError, "expected an integer >= 1");
});

Deno.test("a host file may name groups; without groups it says where to give them", async () => {
  const groups = parseGroups(FILE, "groups");
  const hosts = parseHostFileText("@rack1 deploy\nweb09\n", "hosts.txt", { groups });
  assertEquals(hosts.map((h) => h.key), [
    "deploy@web01",
    "deploy@web02",
    "deploy@db1",
    "web09",
  ]);
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/hosts`, "web1\n@web\n");
    let error: unknown;
    try {
      await readHostFile(`${dir}/hosts`);
    } catch (e) {
      error = e;
    }
    assert(error instanceof TypeError);
    assertStringIncludes(error.message, `${dir}/hosts:2: Cannot use '@web': no groups file`);
  });
});

Deno.test("CLI: parallax hosts prints, folds, counts and splits; -g, -a and --exclude take groups; PARALLAX_GROUPS and ~/.config/parallax/groups are read", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/groups`;
    await Deno.writeTextFile(file, FILE);
    const hosts = async (args: string[], env: Record<string, string> = {}) => {
      const run = await cli(["hosts", ...args], { env });
      assertEquals(run.code, 0, run.stderr);
      return run.stdout;
    };
    assertEquals(await hosts(["--groups", file, "@web!web03"]), "web01\nweb02\nweb04\n");
    assertEquals(
      await hosts(["--groups", file, "--fold", "@all", "web07"]),
      "web[01-04,07],db[1-2]\n",
    );
    assertEquals(await hosts(["--groups", file, "--count", "@web&@rack1"]), "2\n");
    assertEquals(
      await hosts(["--groups", file, "--split", "2", "-g", "web"]),
      "web[01-02]\nweb[03-04]\n",
    );
    assertEquals(await hosts(["--groups", file, "-a", "--exclude", "@web"]), "db1\ndb2\nx1\n");
    // The operands go on from -H, left to right.
    assertEquals(await hosts(["--groups", file, "-H", "@web", "!web01", "&@rack1"]), "web02\n");
    assertEquals(await hosts(["-g", "db"], { PARALLAX_GROUPS: file }), "db1\ndb2\n");
    await Deno.mkdir(`${dir}/home/.config/parallax`, { recursive: true });
    await Deno.copyFile(file, `${dir}/home/.config/parallax/groups`);
    assertEquals(await hosts(["--count", "@all"], { HOME: `${dir}/home` }), "6\n");
    // Step ranges, as nodeset writes them; --split with --fold.
    assertEquals(await hosts(["--fold", "web[01-10/3]"]), "web[01,04,07,10]\n");
    assertEquals(
      await hosts(["--split", "2", "--fold", "n[1-4]"]),
      "n[1-2]\nn[3-4]\n",
    );
    // An empty intersection is an empty list, not an error.
    assertEquals(await hosts(["--groups", file, "--count", "@web&@db"]), "0\n");
    const cycle = `${dir}/cycle`;
    await Deno.writeTextFile(cycle, "a: @b\nb: @a\n");
    for (
      const [args, env, said] of [
        [["--groups", cycle, "@a"], {}, `${cycle}:2: groups refer to each other in a cycle`],
        [["--groups", file, "@nope"], {}, "Cannot use '@nope': no such group"],
        [["@web"], { HOME: `${dir}/nohome` }, "no groups file"],
        [["-g", "web"], { PARALLAX_GROUPS: `${dir}/missing` }, "PARALLAX_GROUPS names a file"],
        [["--fold", "--count", "x"], {}, "give one of --fold, --count and --split"],
        [["n[1-3/0]"], {}, "step 0"],
      ] as [string[], Record<string, string>, string][]
    ) {
      const run = await cli(["hosts", ...args], { env });
      assertEquals(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assertStringIncludes(run.stderr, said);
    }
  });
});

Deno.test("CLI: a call on a group runs on exactly its hosts, less those excluded", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  await withTempDir(async (dir) => {
    const [a, b, c, d] = sshd.aliases;
    const file = `${dir}/groups`;
    await Deno.writeTextFile(file, `front: ${a},${b}\nback: ${c},${d}\nall: @front,@back\n`);
    const run = await cli([
      "call",
      "-x",
      `-F ${sshd.configPath}`,
      "--groups",
      file,
      "-g",
      "all",
      "--exclude",
      `@front&${a}`,
      "--json",
      "echo",
      "$PARALLAX_HOST",
    ]);
    assertEquals(run.code, 0, run.stderr);
    const hosts = run.stdout.trim().split("\n").map((line) => JSON.parse(line).host).sort();
    assertEquals(hosts, [b, c, d].sort());
  });
});
