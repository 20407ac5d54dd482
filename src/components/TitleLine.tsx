import { Text } from "ink";
import type { ReactNode } from "react";
import { truncate } from "../format/text.js";
import { useTheme } from "../theme/index.js";

/** A view's title line: crumbs, row counts, filter and sort, and a short note (e.g. "loading"). */
export function TitleLine({
  crumbs,
  width,
  shown,
  total,
  selected,
  filter,
  sort,
  note,
}: {
  crumbs: string[];
  width: number;
  shown?: number;
  total?: number;
  selected?: number;
  filter?: string;
  sort?: { column: string; desc: boolean } | null;
  note?: string;
}): ReactNode {
  const p = useTheme();
  const extra: string[] = [];
  if (total !== undefined && shown !== undefined) {
    const pos = selected !== undefined && selected >= 0 && shown > 0 ? `${selected + 1}/` : "";
    extra.push(shown === total ? `[${pos}${total}]` : `[${pos}${shown} of ${total}]`);
  }
  if (filter) extra.push(`filter: ${filter}`);
  if (sort) extra.push(`sort: ${sort.column}${sort.desc ? "▼" : "▲"}`);
  if (note) extra.push(note);
  const title = crumbs.join(" › ");
  return (
    <Text wrap="truncate">
      <Text bold color={p.title.color}>
        {truncate(title, Math.max(10, width - 10))}
      </Text>
      <Text> {extra.join("  ")}</Text>
    </Text>
  );
}
