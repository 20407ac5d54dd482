import { Text } from "ink";
import type { ReactNode } from "react";
import { sortLabel, type Column } from "../format/table.js";
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
  columns,
  note,
}: {
  crumbs: string[];
  width: number;
  shown?: number;
  total?: number;
  selected?: number;
  filter?: string;
  sort?: { column: string; desc: boolean } | null;
  /** The table's columns, so the sort names a column by its title (not its internal id). */
  columns?: readonly Column[];
  note?: string;
}): ReactNode {
  const p = useTheme();
  const extra: string[] = [];
  if (total !== undefined && shown !== undefined) {
    const pos = selected !== undefined && selected >= 0 && shown > 0 ? `${selected + 1}/` : "";
    extra.push(shown === total ? `[${pos}${total}]` : `[${pos}${shown} of ${total}]`);
  }
  if (filter) extra.push(`filter: ${filter}`);
  if (sort) extra.push(`sort: ${sortLabel(columns, sort)}`);
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
