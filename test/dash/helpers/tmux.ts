import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { BIN } from "../../harness/backplane.js";
import { waitFor } from "../../harness/proc.js";

const run = promisify(execFile);

const KEYS: Record<string, string> = {
  enter: "Enter",
  esc: "Escape",
  up: "Up",
  down: "Down",
  tab: "Tab",
  space: "Space",
  backspace: "BSpace",
  "ctrl+c": "C-c",
};

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The real binary in a real terminal: a tmux session on a private socket (other tests and people
 * may use tmux on this machine), driven with send-keys and read with capture-pane.
 */
export class TmuxDash {
  private constructor(
    private readonly socket: string,
    readonly session: string,
  ) {}

  /** Start `backplane <args>` in a `cols`×`rows` pane; after it exits the pane prints its exit code and stty state. */
  static async start(args: string[], env: Record<string, string>, cols = 80, rows = 24): Promise<TmuxDash> {
    const socket = `bp-dash-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const session = "dash";
    // CI set, as on a runner: the dashboard must draw on a terminal whatever the shell exports.
    const envs = Object.entries({ TERM: "xterm-256color", CI: "true", ...env })
      .map(([k, v]) => `${k}=${shellQuote(v)}`)
      .join(" ");
    const cmd =
      `env -u FORCE_COLOR -u NO_COLOR ${envs} ${shellQuote(process.execPath)} ${shellQuote(BIN)} ${args.map(shellQuote).join(" ")}; ` +
      `code=$?; echo; echo "STTY: $(stty -a | tr '\\n' ' ')"; echo "EXITED=$code"; sleep 600`;
    await run("tmux", [
      "-L",
      socket,
      "-f",
      "/dev/null",
      "new-session",
      "-d",
      "-s",
      session,
      "-x",
      String(cols),
      "-y",
      String(rows),
      cmd,
    ]);
    await run("tmux", ["-L", socket, "set-option", "-t", session, "status", "off"]);
    return new TmuxDash(socket, session);
  }

  async capture(escapes = false): Promise<string> {
    const args = ["-L", this.socket, "capture-pane", "-p", "-J", "-t", this.session];
    if (escapes) args.push("-e");
    const { stdout } = await run("tmux", args);
    return stdout;
  }

  async lines(): Promise<string[]> {
    return (await this.capture()).split("\n");
  }

  /** Send keys by name (`enter`, `esc`, `down`, ...) or literal text. */
  async press(...keys: string[]): Promise<void> {
    for (const k of keys) {
      const named = KEYS[k];
      if (named) await run("tmux", ["-L", this.socket, "send-keys", "-t", this.session, named]);
      else await run("tmux", ["-L", this.socket, "send-keys", "-t", this.session, "-l", k]);
    }
  }

  async waitFor(
    test: string | RegExp | ((screen: string) => boolean),
    what?: string,
    timeoutMs = 20_000,
  ): Promise<string> {
    const ok = (s: string) =>
      typeof test === "string" ? s.includes(test) : test instanceof RegExp ? test.test(s) : test(s);
    let last = "";
    try {
      return await waitFor(
        what ?? String(test),
        async () => {
          last = await this.capture();
          return ok(last) ? last : null;
        },
        timeoutMs,
        100,
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- screen ---\n${last}`);
    }
  }

  /** pid of the dashboard process (the shell's child in the pane). */
  async dashPid(): Promise<number> {
    const { stdout } = await run("tmux", [
      "-L",
      this.socket,
      "display-message",
      "-p",
      "-t",
      this.session,
      "#{pane_pid}",
    ]);
    const shell = Number(stdout.trim());
    const { stdout: kids } = await run("ps", ["-o", "pid=,args=", "--ppid", String(shell)]);
    const line = kids.split("\n").find((l) => l.includes("backplane"));
    if (!line) throw new Error(`no backplane process under pane shell ${shell}: ${kids}`);
    return Number(line.trim().split(/\s+/)[0]);
  }

  async kill(): Promise<void> {
    await run("tmux", ["-L", this.socket, "kill-server"]).catch(() => {});
  }
}
