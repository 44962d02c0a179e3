import { assertEquals, assertThrows } from "./fixture/assert.ts";
import { compactHosts, expandHosts } from "../mod.ts";
import { parseHostFileText } from "../lib/hosts/file.ts";

Deno.test("expandHosts() expands ranges in order, keeping zero padding", () => {
  assertEquals(expandHosts("web[01-03]"), ["web01", "web02", "web03"]);
  assertEquals(expandHosts("web[08-10]"), ["web08", "web09", "web10"]);
  assertEquals(expandHosts("node[1-3,9]"), ["node1", "node2", "node3", "node9"]);
  assertEquals(expandHosts("node[9-11]"), ["node9", "node10", "node11"]);
  assertEquals(expandHosts("rack[1-2]-n[1-3]"), [
    "rack1-n1",
    "rack1-n2",
    "rack1-n3",
    "rack2-n1",
    "rack2-n2",
    "rack2-n3",
  ]);
  assertEquals(expandHosts("admin@db[1-2]:2222"), ["admin@db1:2222", "admin@db2:2222"]);
  assertEquals(expandHosts("web1"), ["web1"]);
  assertEquals(expandHosts("[::1]:22"), ["[::1]:22"]);
  assertEquals(expandHosts("[fe80::1]"), ["[fe80::1]"]);
  assertEquals(expandHosts("n[7]"), ["n7"]);
});

Deno.test("expandHosts() refuses malformed and absurdly large ranges", () => {
  assertThrows(() => expandHosts("web[3-1]"), TypeError, "runs backwards");
  assertThrows(() => expandHosts("web[1-]"), TypeError, "malformed range");
  assertThrows(() => expandHosts("web[a-c]"), TypeError, "malformed range");
  assertThrows(() => expandHosts("web[]"), TypeError, "malformed range");
  assertThrows(() => expandHosts("web[1-2"), TypeError, "unbalanced");
  assertThrows(() => expandHosts("web1-2]"), TypeError, "unbalanced");
  assertThrows(() => expandHosts("web[[1-2]]"), TypeError, "unbalanced");
  assertThrows(() => expandHosts("web[1-1000000]"), RangeError, "more than 100,000 hosts");
  assertThrows(() => expandHosts("a[1-1000]b[1-1000]"), RangeError, "more than 100,000 hosts");
});

Deno.test("compactHosts() folds names back into ranges, inverse of expandHosts()", () => {
  assertEquals(compactHosts(["h001", "h002", "h003", "h005", "db"]), "h[001-003,005],db");
  assertEquals(compactHosts(["web1", "web2", "web10", "web3"]), "web[1-3,10]");
  assertEquals(compactHosts(["a1"]), "a1");
  assertEquals(compactHosts(["x", "y"]), "x,y");
  assertEquals(compactHosts(["r1-n1", "r1-n2", "r2-n1"]), "r1-n[1-2],r2-n1");
  assertEquals(compactHosts(["n9", "n09", "n10"]), "n9,n[09-10]");
  for (const pattern of ["web[01-20]", "node[1-5,9]", "h[001-200]"]) {
    assertEquals(compactHosts(expandHosts(pattern)), pattern);
  }
});

Deno.test("host files expand ranges in place and name the line of a bad one", () => {
  assertEquals(
    parseHostFileText("web[1-2]\ndb[01-02] admin\n", "hosts").map((h) => h.key),
    ["web1", "web2", "admin@db01", "admin@db02"],
  );
  assertThrows(() => parseHostFileText("web1\nweb[2-1]\n", "hosts"), TypeError, "hosts:2:");
  assertThrows(() => parseHostFileText("n[1-999999]\n", "hosts"), RangeError, "hosts:1:");
  assertThrows(() => parseHostFileText("web[1-2]\nweb2\n", "h"), TypeError, "h:2: host 'web2'");
});
