import { Priority } from "../keymap/dispatcher.js";
import type { ViewId } from "../keymap/registry.js";
import { parseInterval } from "../format/units.js";
import { currentView, tableKeyOf, type DashStore } from "../store/index.js";
import { useDashEnv } from "../hooks/context.js";
import { useKeyHandler } from "../hooks/useKeys.js";
import { GLOBAL_KEYS, jumpableViews, OPENERS, viewByName, viewSpec } from "../views/registry.js";

const MIN_INTERVAL_SEC = 60;
const MAX_INTERVAL_SEC = 7 * 24 * 3600;

/** A key as text typed into a prompt or a type-to-confirm field, or null when it is not text. */
function typedText(key: string): string | null {
  if (key === "space") return " ";
  return [...key].length === 1 ? key : null;
}

function complete(text: string): string {
  const t = text.trim().toLowerCase();
  const hits = jumpableViews()
    .map((v) => viewSpec(v).names[0]!)
    .filter((n) => n.startsWith(t));
  return hits.length === 1 ? hits[0]! : text;
}

function filterTarget(store: DashStore): string {
  return tableKeyOf(currentView(store.getState()));
}

/**
 * The app-wide layers of the key stack: the confirm dialog (modal), the `/` `:` and interval
 * prompts, the read-only guard, and the global commands. Views register their own layer between.
 */
export function useAppKeys(): void {
  const { store, keymap, runner, quit } = useDashEnv();
  const actions = () => store.getState().actions;

  useKeyHandler(Priority.dialog, (e) => {
    const d = store.getState().dialog;
    if (!d) return false;
    const cmd = keymap.resolve("dialog", e.key, "nodes");
    if (keymap.resolve("global", e.key, "nodes") === "app.quit" && e.key.startsWith("ctrl+")) return false;
    const cancel = () => {
      actions().closeDialog();
      actions().toast("ok", "cancelled: nothing was sent");
    };
    if (d.typeToConfirm !== undefined) {
      if (e.key === "esc") cancel();
      else if (e.key === "enter") runner.confirmDialog();
      else if (e.key === "backspace") actions().updateDialog({ typed: d.typed.slice(0, -1) });
      else {
        const ch = typedText(e.key);
        if (ch !== null) actions().updateDialog({ typed: d.typed + ch });
      }
      return true;
    }
    switch (cmd) {
      case "dialog.confirm":
        runner.confirmDialog();
        break;
      case "dialog.cancel":
        cancel();
        break;
      case "dialog.switch":
        actions().updateDialog({ focus: d.focus === "cancel" ? "action" : "cancel" });
        break;
      case "dialog.next":
        runner.chooseInDialog(1);
        break;
      case "dialog.prev":
        runner.chooseInDialog(-1);
        break;
      case "dialog.activate":
        if (d.focus === "action") runner.confirmDialog();
        else cancel();
        break;
      default:
        break;
    }
    return true;
  });

  useKeyHandler(Priority.prompt, (e) => {
    const s = store.getState();
    const p = s.prompt;
    if (!p) return false;
    const cmd = keymap.resolve("prompt", e.key, "nodes");
    const setText = (text: string) => {
      actions().setPromptText(text);
      if (p.kind === "filter" && p.tableKey)
        actions().setTable(p.tableKey, { filter: text, selectedIndex: 0 });
    };
    switch (cmd) {
      case "prompt.cancel":
        if (p.kind === "filter" && p.tableKey) actions().setTable(p.tableKey, { filter: "" });
        actions().closePrompt();
        return true;
      case "prompt.erase":
        setText(p.text.slice(0, -1));
        return true;
      case "prompt.complete":
        if (p.kind === "jump") setText(complete(p.text));
        return true;
      case "prompt.submit":
        actions().closePrompt();
        if (p.kind === "jump") {
          const v = viewByName(p.text);
          if (v) actions().navigate({ id: v });
          else
            actions().toast(
              "warn",
              `no view "${p.text}": try ${jumpableViews()
                .map((x) => viewSpec(x).names[0])
                .join(", ")}`,
            );
        } else if (p.kind === "interval") {
          const sec = parseInterval(p.text);
          if (sec === null || sec < MIN_INTERVAL_SEC || sec > MAX_INTERVAL_SEC)
            actions().toast("err", `"${p.text}" is not an interval between 1m and 7d (e.g. 6h, 90m, 3600)`);
          else runner.request({ kind: "settings", upgradeCheckIntervalSec: sec });
        }
        return true;
      default: {
        const ch = typedText(e.key);
        if (ch !== null) setText(p.text + ch);
        return true;
      }
    }
  });

  useKeyHandler(Priority.view + 5, (e) => {
    const view = currentView(store.getState()).id;
    const cmd = keymap.resolve("global", e.key, view);
    if (cmd === null || !keymap.disabled(cmd)) return false;
    actions().toast("warn", `read-only mode: "${e.key}" (${keymap.spec(cmd).description}) is disabled`);
    return true;
  });

  useKeyHandler(Priority.global, (e) => {
    const s = store.getState();
    const view = currentView(s);
    const cmd = keymap.resolve("global", e.key, view.id);
    const go = (id: ViewId) => actions().navigate({ id });
    if (cmd === null) return false;
    const opens = OPENERS.get(cmd);
    if (opens) {
      go(opens);
      return true;
    }
    const global = GLOBAL_KEYS[cmd];
    if (global) {
      global({ store, runner });
      return true;
    }
    switch (cmd) {
      case "app.quit":
        quit();
        return true;
      case "app.back": {
        const key = tableKeyOf(view);
        if (s.tables[key]?.filter) actions().setTable(key, { filter: "" });
        else actions().back();
        return true;
      }
      case "app.filter":
        // A new filter replaces the old one (as in k9s); the old one stays until the first key.
        actions().openPrompt({ kind: "filter", text: "", tableKey: filterTarget(store) });
        return true;
      case "app.jump":
        actions().openPrompt({ kind: "jump", text: "" });
        return true;
      default:
        return false;
    }
  });
}
