import { useEffect, useMemo, type ReactNode } from "react";
import { TableView } from "../../components/TableView.js";
import { Box, Text } from "ink";
import {
  GALLERY_COLUMNS,
  galleryRows,
  pickable,
  PICK_COLUMNS,
  pickRows,
  resolvable,
} from "../../format/install.js";
import { truncate } from "../../format/text.js";
import { toneStyle, useTheme } from "../../theme/index.js";
import { useActions, useDash, useDashEnv } from "../../hooks/context.js";
import { useViewCommands } from "../../hooks/useKeys.js";
import { useTable } from "../../hooks/useTable.js";
import type { ViewProps } from "../types.js";

const NONE: readonly string[] = [];

/** Step 1: choose a backend from the gallery. */
function GalleryStep({ width, height }: Omit<ViewProps, "entry">): ReactNode {
  const gallery = useDash((s) => s.gallery);
  const { runner } = useDashEnv();
  const { navigate } = useActions();
  useEffect(() => {
    void runner.loadGallery();
  }, [runner]);
  const rows = useMemo(() => galleryRows(gallery.data), [gallery.data]);
  const t = useTable("install", "install", rows, GALLERY_COLUMNS, height - 2);
  useViewCommands("install", (cmd) => {
    if (cmd === "view.refresh") {
      void runner.loadGallery();
      return true;
    }
    if (cmd !== "nav.open" || !t.selectedRow) return false;
    navigate({ id: "install", param: t.selectedRow.key });
    return true;
  });
  const note =
    gallery.status === "loading"
      ? "loading gallery…"
      : gallery.status === "error"
        ? `cannot load the gallery: ${gallery.error ?? "?"}`
        : "enter chooses";
  return (
    <TableView
      t={t}
      columns={GALLERY_COLUMNS}
      crumbs={["Install", "choose a backend"]}
      note={note}
      width={width}
      height={height}
      empty={gallery.status === "ok" ? "the gallery is empty" : "…"}
    />
  );
}

/** Step 2: pick nodes; each shows the concrete build its capability resolves to, or why none. */
function NodesStep({ backend, width, height }: Omit<ViewProps, "entry"> & { backend: string }): ReactNode {
  const nodes = useDash((s) => s.nodes);
  const inventory = useDash((s) => s.inventory);
  const resolution = useDash((s) => s.resolutions[backend]);
  const own = useDash((s) => s.picked[backend]);
  const picked = useDash((s) => s.picked[backend] ?? s.picked[""] ?? NONE);
  const from = useDash((s) => s.pickedFrom);
  const { runner } = useDashEnv();
  const { setPicked, toast } = useActions();
  const p = useTheme();
  useEffect(() => {
    void runner.resolve(backend);
  }, [runner, backend]);

  const byNode = useMemo(() => new Map((resolution?.data ?? []).map((r) => [r.nodeId, r])), [resolution]);
  const resolved = resolution?.status === "ok" ? resolution.data : undefined;
  const rows = useMemo(
    () => pickRows(nodes, resolved, picked, { backend, inventory }),
    [nodes, resolved, picked, backend, inventory],
  );
  // Said plainly while the pre-selection stands (until the operator changes the selection).
  const preselected = own === undefined && from !== null && picked.length > 0;
  const t = useTable("install", `install:${backend}`, rows, PICK_COLUMNS, height - 2 - (preselected ? 1 : 0));
  const canPick = (id: string) => pickable(nodes.get(id), byNode.get(id));
  const chosen = picked.filter(canPick);

  useViewCommands("install", (cmd) => {
    const id = t.selectedRow?.key;
    switch (cmd) {
      case "picker.toggle":
        if (!id) return true;
        if (nodes.get(id)?.status === "draining") {
          toast("warn", `${id} is draining: it takes no new work until it is resumed`);
          return true;
        }
        if (!resolvable(byNode.get(id))) {
          toast("warn", `${backend} has no build for ${id}: ${byNode.get(id)?.error ?? "not resolved yet"}`);
          return true;
        }
        setPicked(backend, chosen.includes(id) ? chosen.filter((x) => x !== id) : [...chosen, id]);
        return true;
      case "picker.all": {
        const all = [...nodes.keys()].filter(canPick);
        setPicked(backend, chosen.length === all.length ? [] : all);
        return true;
      }
      case "view.refresh":
        void runner.resolve(backend);
        return true;
      case "nav.open":
        if (chosen.length === 0) toast("warn", "select at least one node with space (or * for all)");
        else runner.request({ kind: "install", backend, nodes: chosen });
        return true;
      default:
        return false;
    }
  });

  const note =
    resolution?.status === "error"
      ? `cannot resolve: ${resolution.error ?? "?"}`
      : resolution?.status === "ok"
        ? `${chosen.length} selected · space select · * all · enter installs`
        : "resolving…";
  const table = (
    <TableView
      t={t}
      columns={PICK_COLUMNS}
      crumbs={["Install", backend]}
      note={note}
      width={width}
      height={height - (preselected ? 1 : 0)}
      empty="no nodes known"
    />
  );
  if (!preselected) return table;
  return (
    <Box flexDirection="column" height={height}>
      {table}
      <Text wrap="truncate" color={toneStyle(p, "warn").color}>
        {truncate(`pre-selected from ${from}: ${picked.join(", ")} (space unselects)`, width)}
      </Text>
    </Box>
  );
}

export function InstallView({ entry, width, height }: ViewProps): ReactNode {
  return entry.param === undefined ? (
    <GalleryStep width={width} height={height} />
  ) : (
    <NodesStep backend={entry.param} width={width} height={height} />
  );
}
