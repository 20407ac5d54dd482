import type { ViewEntry } from "../store/index.js";

export interface ViewProps {
  entry: ViewEntry;
  width: number;
  /** Lines for the view, its title line included. */
  height: number;
}
