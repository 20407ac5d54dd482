import type { CommandId } from "../../keymap/registry.js";
import { can, type OpAction, type OpRecord } from "../../protocol/index.js";
import type { CommandRunner, DashActions } from "../../store/index.js";

const ACTION: Partial<Record<CommandId, OpAction>> = {
  "op.cancel": "cancel",
  "op.dismiss": "dismiss",
  "op.retry": "retry",
};

const NOTHING: Record<OpAction, (label: string) => string> = {
  cancel: (label) => `nothing to cancel in "${label}": it is finished or already cancelling`,
  dismiss: () => "only failed operations can be dismissed (cancel a running one with c)",
  retry: () => "only failed operations can be retried",
};

/** c, x or R on some ops (a row of Operations, or the op detail view): those it applies to, or why none. */
export function runOpAction(
  cmd: CommandId,
  ops: readonly OpRecord[],
  label: string,
  runner: CommandRunner,
  toast: DashActions["toast"],
): boolean {
  const action = ACTION[cmd];
  if (!action) return false;
  const opIds = ops.filter((o) => can(o, action)).map((o) => o.id);
  if (opIds.length > 0) runner.request({ kind: action, opIds, label });
  else toast("warn", NOTHING[action](label));
  return true;
}
