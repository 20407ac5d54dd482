import { rolloutEndText } from "../format/rollouts.js";
import { rolloutEnded, type RolloutNode } from "../protocol/index.js";
import type { DashStore } from "./dash-store.js";

/**
 * Tell how every rollout seen running ends: a toast, and a line in History. Only a change seen
 * here counts, so rollouts that had ended before the dashboard started are not told again.
 * Returns a function that stops watching.
 */
export function watchRolloutEnds(store: DashStore): () => void {
  return store.subscribe((s, prev) => {
    if (s.rollouts === prev.rollouts) return;
    for (const [id, r] of s.rollouts) {
      const before = prev.rollouts.get(id);
      if (!before || rolloutEnded(before.state) || !rolloutEnded(r.state)) continue;
      const rows: RolloutNode[] = [];
      for (const n of s.rollout_nodes.values()) if (n.rollout === id) rows.push(n);
      const o = rolloutEndText(r, rows);
      s.actions.toast(o.level, o.text);
      s.actions.addOutcome({ level: o.level, text: o.history, backend: r.backend, what: "rollout" });
    }
  });
}
