import { assertEquals, assertThrows } from "./fixture/assert.ts";
import { withTempFile } from "./fixture/temp_dir.ts";
import { parseHosts, readHostFile } from "../mod.ts";
import { parseHostFileText } from "../lib/hosts/file.ts";

Deno.test("parseHosts() reads every string form and keeps the key as written", () => {
  const hosts = parseHosts(["web1", "admin@web2:2222", "[::1]:22", "[fe80::1]", "::1", "db:5432"]);
  assertEquals(hosts, [
    { key: "web1", host: "web1" },
    { key: "admin@web2:2222", host: "web2", port: 2222, user: "admin" },
    { key: "[::1]:22", host: "::1", port: 22 },
    { key: "[fe80::1]", host: "fe80::1" },
    { key: "::1", host: "::1" },
    { key: "db:5432", host: "db", port: 5432 },
  ]);
});

Deno.test("parseHosts() keys tuples and objects as [user@]host[:port]", () => {
  const hosts = parseHosts([["web1"], ["web2", "22"], ["web3", 2200, "root"], {
    host: "::1",
    port: 22,
  }, {
    host: "cache",
    user: "ops",
  }]);
  assertEquals(hosts.map((h) => h.key), [
    "web1",
    "web2:22",
    "root@web3:2200",
    "[::1]:22",
    "ops@cache",
  ]);
  assertEquals(hosts[2], { key: "root@web3:2200", host: "web3", port: 2200, user: "root" });
});

Deno.test("parseHosts() splits one string on any whitespace", () => {
  assertEquals(parseHosts("  web1\tweb2\n admin@web3 ").map((h) => h.key), [
    "web1",
    "web2",
    "admin@web3",
  ]);
  assertEquals(parseHosts(""), []);
  assertEquals(parseHosts([]), []);
});

Deno.test("parseHosts() refuses malformed and unsafe hosts with a TypeError that quotes them", () => {
  const cases: [unknown, string][] = [
    ["", "empty host"],
    ["@web1", "empty user"],
    ["admin@", "empty host"],
    ["web1:", "port '' is not in 1-65535"],
    ["web1:0", "port '0' is not in 1-65535"],
    ["web1:65536", "port '65536' is not in 1-65535"],
    ["web1:22x", "port '22x'"],
    ["-oProxyCommand=touch\$IFS/tmp/pwned", "would be read as an ssh option"],
    ["-oProxyCommand=touch /tmp/pwned", "Cannot parse host"],
    ["-F", "would be read as an ssh option"],
    ["-x@web1", "would be read as an ssh option"],
    ["web 1", "whitespace or control characters"],
    ["web1\n", "whitespace or control characters"],
    ["web\u00001", "whitespace or control characters"],
    ["web\u001b[31m", "whitespace or control characters"],
    ["a@b@c", "more than one '@'"],
    ["[::1", "unclosed '['"],
    ["[::1]:x", "port 'x'"],
    [["web1", 70000], "not in 1-65535"],
    [["web1", 22.5], "not in 1-65535"],
    [["-web1"], "would be read as an ssh option"],
    [{ host: "web1", user: "-oX" }, "would be read as an ssh option"],
    [{ host: "web1", user: "a b" }, "whitespace"],
    [{ host: 42 }, "the host must be a string"],
    [{ host: "a@b" }, "'@' inside the host"],
    [42, "expected a string, tuple or object"],
  ];
  for (const [entry, message] of cases) {
    assertThrows(() => parseHosts([entry as string]), TypeError, message);
  }
});

Deno.test("parseHosts() refuses a duplicate entry and names it", () => {
  assertThrows(() => parseHosts(["web1", "web2", "web1"]), TypeError, "'web1' twice");
  assertThrows(() => parseHosts([["web1", 22], "web1:22"]), TypeError, "'web1:22' twice");
});

Deno.test("readHostFile() reads pssh's format: comments, blank lines, a user field", async () => {
  await withTempFile(async (path) => {
    await Deno.writeTextFile(
      path,
      "# cluster\n\nweb1\r\nadmin@web2:2222   # the old one\n  web3 deploy\n[::1]:22 ops\nroot@web4 ignored\n",
    );
    const hosts = await readHostFile(path);
    assertEquals(hosts.map((h) => h.key), [
      "web1",
      "admin@web2:2222",
      "deploy@web3",
      "ops@[::1]:22",
      "root@web4",
    ]);
  });
});

Deno.test("readHostFile() names the file and line of a bad entry, and a missing file", async () => {
  assertThrows(() => parseHostFileText("web1\nweb2 a b\n", "hosts.txt"), TypeError, "hosts.txt:2:");
  assertThrows(
    () => parseHostFileText("web1\n-oX\n", "hosts.txt"),
    TypeError,
    "hosts.txt:2: Cannot parse",
  );
  assertThrows(
    () => parseHostFileText("web1\n\nweb1\n", "h"),
    TypeError,
    "h:3: host 'web1' is already listed on line 1",
  );
  const missing = `/nonexistent-${crypto.randomUUID()}/hosts`;
  try {
    await readHostFile(missing);
    throw new Error("expected a rejection");
  } catch (error) {
    assertEquals((error as Error).message.startsWith(`Cannot read host file '${missing}'`), true);
  }
});
