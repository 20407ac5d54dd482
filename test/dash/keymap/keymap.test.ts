import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  createKeymap,
  KeyDispatcher,
  keyNames,
  keysMarkdown,
  KeymapError,
  parseKeySpec,
  Priority,
  type CommandSpec,
  type InkKey,
} from "../../../src/keymap/index.js";
import {
  buildKeymap,
  COMMAND_IDS,
  COMMANDS,
  INTENTS,
  OPENERS,
  VIEW_IDS,
  viewByName,
  viewSpec,
} from "../../../src/views/registry.js";

const none: InkKey = {
  upArrow: false,
  downArrow: false,
  leftArrow: false,
  rightArrow: false,
  pageDown: false,
  pageUp: false,
  home: false,
  end: false,
  return: false,
  escape: false,
  ctrl: false,
  shift: false,
  tab: false,
  backspace: false,
  delete: false,
  meta: false,
};

describe("key names", () => {
  it("normalises Ink's (input, key) pairs and its quirks", () => {
    expect(keyNames("", { ...none, escape: true, meta: true })).toEqual(["esc"]);
    // Backspace arrives as `delete` in Ink 6.
    expect(keyNames("", { ...none, delete: true })).toEqual(["backspace"]);
    expect(keyNames("U", { ...none, shift: true })).toEqual(["U"]);
    expect(keyNames("c", { ...none, ctrl: true })).toEqual(["ctrl+c"]);
    expect(keyNames("", { ...none, downArrow: true })).toEqual(["down"]);
    expect(keyNames(" ", none)).toEqual(["space"]);
  });
  it("reads Esc quickly followed by a key (Alt+key to the terminal) as Esc, then the key", () => {
    expect(keyNames("g", { ...none, meta: true })).toEqual(["esc", "g"]);
  });
  it("splits a burst of characters that arrived in one chunk", () => {
    expect(keyNames("jjk", none)).toEqual(["j", "j", "k"]);
    expect(keyNames("ab\r", none)).toEqual(["a", "b", "enter"]);
  });
  it("parses config key specs and refuses what cannot be received", () => {
    expect(parseKeySpec("Escape")).toBe("esc");
    expect(parseKeySpec("ctrl-x")).toBe("ctrl+x");
    expect(parseKeySpec("shift+u")).toBe("U");
    expect(parseKeySpec("PageDown")).toBe("pgdn");
    expect(parseKeySpec("F13")).toBeNull();
    expect(parseKeySpec("é")).toBeNull();
  });
});

describe("keymap", () => {
  it("resolves a key per view, so view-only commands act only where they belong", () => {
    const km = buildKeymap();
    expect(km.resolve("global", "c", "ops")).toBe("op.cancel");
    expect(km.resolve("global", "c", "nodes")).toBeNull();
    expect(km.resolve("global", "u", "backends")).toBe("backend.upgrade");
    expect(km.resolve("dialog", "y", "nodes")).toBe("dialog.confirm");
  });
  it("applies overrides and refuses conflicts, unknown commands and bad keys, all at once", () => {
    const km = buildKeymap({ "op.cancel": ["C", "ctrl+k"] });
    expect(km.keysOf("op.cancel")).toEqual(["C", "ctrl+k"]);
    expect(km.resolve("global", "c", "ops")).toBeNull();
    let err: unknown;
    try {
      buildKeymap({ "op.cancel": "q", "no.such": "z", "app.help": "F13" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeymapError);
    const problems = (err as KeymapError).problems.join("\n");
    expect(problems).toMatch(/key "q" is bound to both app.quit and op.cancel/);
    expect(problems).toMatch(/unknown command "no.such"/);
    expect(problems).toMatch(/"F13" is not a key/);
  });
  it("read-only disables every command key and nothing else", () => {
    const km = buildKeymap({}, { readOnly: true });
    const disabled = COMMAND_IDS.filter((id) => km.disabled(id));
    const commands = COMMAND_IDS.filter((id) => (COMMANDS[id].sends?.length ?? 0) > 0);
    expect(disabled).toEqual(commands);
    expect(disabled).toEqual(
      expect.arrayContaining([
        "backend.upgrade",
        "backend.reinstall",
        "install.open",
        "op.cancel",
        "op.dismiss",
        "op.retry",
        "node.drain",
        "upgrades.check",
        "settings.autoUpgrade",
      ]),
    );
    expect(km.disabled("nav.down")).toBe(false);
  });
  it("has the issue's default keys", () => {
    const km = buildKeymap();
    const first = (id: (typeof COMMAND_IDS)[number]) => km.keysOf(id);
    expect(first("app.help")).toContain("?");
    expect(first("app.filter")).toContain("/");
    expect(first("app.jump")).toContain(":");
    expect(first("nav.down")).toEqual(["j", "down"]);
    expect(first("table.sort")).toContain("s");
    expect(first("op.retry")).toContain("R");
    expect(first("node.drain")).toContain("D");
    expect(first("upgrades.check")).toContain("U");
    expect(first("settings.autoUpgrade")).toContain("a");
    expect(first("app.quit")).toContain("q");
  });
  it("has no key bound twice where both commands act, across every view's spec", () => {
    expect(() => buildKeymap()).not.toThrow();
  });
  it("refuses a default key declared twice in one scope, and allows it in another", () => {
    const cmd = (layer: CommandSpec["layer"], views?: string[]): CommandSpec => ({
      description: "x",
      category: "actions",
      layer,
      views,
      keys: ["z"],
    });
    const source = (commands: Record<string, CommandSpec>) => ({
      commands,
      viewTitle: (v: string) => v,
      confirms: () => false,
    });
    expect(() => createKeymap(source({ "a.one": cmd("global", ["ops"]), "b.two": cmd("global") }))).toThrow(
      /key "z" is bound to both a.one and b.two/,
    );
    expect(() =>
      createKeymap(source({ "a.one": cmd("global", ["ops"]), "b.two": cmd("global", ["nodes"]) })),
    ).not.toThrow();
    expect(() => createKeymap(source({ "a.one": cmd("global"), "b.two": cmd("dialog") }))).not.toThrow();
  });
  it("joins every view's spec: jump keys open their view, confirming intents are flagged", () => {
    const km = buildKeymap();
    for (const id of VIEW_IDS) {
      const key = viewSpec(id).jumpKey;
      if (key) expect(km.resolve("global", key, "help")).toBe(`view.${id}`);
    }
    expect(OPENERS.get("view.ops")).toBe("ops");
    expect(OPENERS.get("app.help")).toBe("help");
    expect(OPENERS.get("install.open")).toBe("install");
    expect(km.source.confirms("cancel")).toBe(true);
    expect(km.source.confirms("dismiss")).toBe(false);
    // Every intent a command sends has a handler.
    for (const id of COMMAND_IDS)
      for (const intent of COMMANDS[id].sends ?? []) expect(Object.keys(INTENTS)).toContain(intent);
  });
  it("jumps to views by name or unique prefix", () => {
    expect(viewByName("backends")).toBe("backends");
    expect(viewByName("op")).toBe("ops");
    expect(viewByName("sett")).toBe("settings");
    expect(viewByName("nope")).toBeNull();
  });
});

describe("dispatcher", () => {
  it("offers a key to the highest priority first and stops when one consumes it", () => {
    const d = new KeyDispatcher();
    const seen: string[] = [];
    d.register(Priority.global, () => (seen.push("global"), true));
    const offView = d.register(Priority.view, () => (seen.push("view"), false));
    d.register(Priority.dialog, (e) => (seen.push("dialog"), e.key === "y"));
    expect(d.dispatch({ key: "y" })).toBe(true);
    expect(seen).toEqual(["dialog"]);
    seen.length = 0;
    d.dispatch({ key: "j" });
    expect(seen).toEqual(["dialog", "view", "global"]);
    offView();
    seen.length = 0;
    d.dispatch({ key: "j" });
    expect(seen).toEqual(["dialog", "global"]);
  });

  it("sends a burst of keys one event-loop turn apart, in order, the first at once", async () => {
    const marks: string[] = [];
    const d = new KeyDispatcher(() => marks.push("before"));
    const seen: string[] = [];
    d.register(Priority.view, (e) => (seen.push(e.key), true));
    for (const key of ["3", "j", "j"]) d.send({ key });
    expect(seen).toEqual(["3"]);
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(["3", "j"]);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(["3", "j", "j"]);
    expect(marks).toHaveLength(3);
    // Idle again: the next key goes at once.
    d.send({ key: "k" });
    expect(seen.at(-1)).toBe("k");
  });
});

describe("docs/keys.md", () => {
  it("is generated from the keymap (BACKPLANE_WRITE_DOCS=1 rewrites it)", () => {
    const path = fileURLToPath(new URL("../../../docs/keys.md", import.meta.url));
    const want = keysMarkdown(buildKeymap());
    if (process.env.BACKPLANE_WRITE_DOCS === "1") writeFileSync(path, want);
    expect(readFileSync(path, "utf8")).toBe(want);
    for (const id of COMMAND_IDS) expect(want).toContain(`\`${id}\``);
  });
});
