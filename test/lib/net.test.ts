import { describe, expect, it } from "vitest";
import { hostName, isLoopbackHost } from "../../src/lib/net.js";

describe("isLoopbackHost", () => {
  const cases: Array<[string, boolean]> = [
    ["localhost", true],
    ["LocalHost", true],
    ["localhost:5000", true],
    ["localhost.:8080", true],
    ["127.0.0.1", true],
    ["127.0.0.1:5000", true],
    ["127.255.1.2", true],
    ["127.1.2.3:80", true],
    ["::1", true],
    ["[::1]", true],
    ["[::1]:5000", true],
    ["0:0:0:0:0:0:0:1", true],
    ["[0:0:0:0:0:0:0:1]:80", true],
    ["::ffff:127.0.0.1", true],
    ["[::ffff:127.0.0.1]:9464", true],
    ["[::ffff:7f00:1]:80", true], // how URL writes ::ffff:127.0.0.1
    ["::1%lo", true],
    // not this machine only
    ["::", false],
    ["0.0.0.0", false],
    ["", false],
    ["128.0.0.1", false],
    ["10.0.0.1:5000", false],
    ["::ffff:10.0.0.1", false],
    ["[::ffff:10.0.0.1]:80", false],
    ["::2", false],
    ["[::1]evil", false],
    ["127.0.0.1.nip.io", false],
    ["127.0.0.1.nip.io:80", false],
    ["localhost.example.com", false],
    ["notlocalhost", false],
    ["127.0.0.256", false],
    ["registry.example:5000", false],
  ];
  for (const [host, want] of cases) {
    it(`${JSON.stringify(host)} is ${want ? "" : "not "}loopback`, () => {
      expect(isLoopbackHost(host)).toBe(want);
    });
  }

  it("reads the host out of a Host header or host:port", () => {
    expect(["[::1]:80", "::1", "Example.COM.:8080", "example.com", "[fe80::1]"].map(hostName)).toEqual([
      "::1",
      "::1",
      "example.com",
      "example.com",
      "fe80::1",
    ]);
  });
});
