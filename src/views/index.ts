import type { ComponentType } from "react";
import type { ViewId } from "../keymap/registry.js";
import { BackendView } from "./backend/BackendView.js";
import { BackendsView } from "./backends/BackendsView.js";
import { HelpView } from "./help/HelpView.js";
import { HistoryView } from "./history/HistoryView.js";
import { InstallView } from "./install/InstallView.js";
import { NodeDetailView } from "./node/NodeDetailView.js";
import { NodesView } from "./nodes/NodesView.js";
import { OpDetailView } from "./op/OpDetailView.js";
import { OperationsView } from "./ops/OperationsView.js";
import { RolloutDetailView } from "./rollout/RolloutDetailView.js";
import { RolloutsView } from "./rollouts/RolloutsView.js";
import { SettingsView } from "./settings/SettingsView.js";
import type { ViewProps } from "./types.js";

/** Every view's screen (src/views/<view>/); the rest of a view is in registry.ts, which loads no React. */
export const VIEWS = {
  nodes: NodesView,
  backends: BackendsView,
  backend: BackendView,
  ops: OperationsView,
  op: OpDetailView,
  rollouts: RolloutsView,
  rollout: RolloutDetailView,
  node: NodeDetailView,
  install: InstallView,
  history: HistoryView,
  settings: SettingsView,
  help: HelpView,
} satisfies Record<ViewId, ComponentType<ViewProps>>;

export type { ViewProps };
