import type { ComponentType } from "react";
import type { ViewId } from "../keymap/views.js";
import { BackendsView } from "./BackendsView.js";
import { BackendView } from "./BackendView.js";
import { HelpView } from "./HelpView.js";
import { HistoryView } from "./HistoryView.js";
import { InstallView } from "./InstallView.js";
import { NodeDetailView } from "./NodeDetailView.js";
import { NodesView } from "./NodesView.js";
import { OperationsView } from "./OperationsView.js";
import { SettingsView } from "./SettingsView.js";
import type { ViewProps } from "./types.js";

export const VIEWS: Record<ViewId, ComponentType<ViewProps>> = {
  nodes: NodesView,
  backends: BackendsView,
  backend: BackendView,
  ops: OperationsView,
  node: NodeDetailView,
  install: InstallView,
  history: HistoryView,
  settings: SettingsView,
  help: HelpView,
};

export type { ViewProps };
