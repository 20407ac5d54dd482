import { Box, Text } from "ink";
import { memo, useMemo, type ReactNode } from "react";
import {
  GUTTER,
  layoutColumns,
  windowStart,
  type Column,
  type PlacedColumn,
  type Row,
} from "../format/table.js";
import { fit } from "../format/text.js";
import { SELECTED_MARK, useTheme, type Tone } from "../theme/index.js";
import { LineLookContext, Spans, type LineLook, type Span } from "./Spans.js";

/** A live cell: mounts its own component (an op's progress) so only it re-renders on a tick. */
export type CellRenderer = (row: Row, width: number) => ReactNode;

export interface DataTableProps {
  columns: readonly Column[];
  rows: readonly Row[];
  /** Index of the selected row; -1 for none. */
  selected: number;
  width: number;
  /** Lines available, the header line included. */
  height: number;
  sort: { column: string; desc: boolean } | null;
  renderers?: Readonly<Record<string, CellRenderer>>;
  /** Shown in place of rows when there are none. */
  empty?: string;
  /** First visible row when there is no selection to follow (scroll tables). */
  offset?: number;
  /** The data is not live (connection lost): every row is dimmed. */
  stale?: boolean;
}

function HeaderLine({
  cols,
  sort,
  width,
}: {
  cols: PlacedColumn[];
  sort: DataTableProps["sort"];
  width: number;
}) {
  const p = useTheme();
  const text = cols
    .map((c) => {
      const mark = sort?.column === c.id ? (sort.desc ? "▼" : "▲") : "";
      return fit(`${c.title}${mark}`, c.w, c.align);
    })
    .join(" ");
  return (
    <Box width={width} height={1}>
      <Spans spans={[{ text: `  ${text}`, style: { color: p.title.color, bold: true } }]} />
    </Box>
  );
}

interface RowLineProps {
  row: Row;
  cols: PlacedColumn[];
  width: number;
  selected: boolean;
  stale?: boolean;
  renderers?: Readonly<Record<string, CellRenderer>>;
}

/**
 * One row: neighbouring cells with the same tone are joined into one span (Ink's cost per frame
 * grows with text nodes and style changes), live cells mount their own component in a box of the
 * column's width.
 */
const RowLine = memo(function RowLine({ row, cols, width, selected, stale, renderers }: RowLineProps) {
  const p = useTheme();
  const items: ReactNode[] = [];
  let spans: Span[] = [];
  let run = selected ? `${SELECTED_MARK} ` : "  ";
  let runTone: Tone | undefined;
  const endRun = () => {
    if (run !== "") spans.push({ text: run, tone: runTone });
    run = "";
  };
  const flush = () => {
    endRun();
    if (spans.length > 0) items.push(<Spans key={items.length} spans={spans} />);
    spans = [];
  };
  const add = (text: string, tone: Tone | undefined) => {
    if (tone !== runTone) {
      endRun();
      runTone = tone;
    }
    run += text;
  };
  // The tail runs to the end of the line from its column, or after the last column when a narrow
  // terminal dropped that column.
  const tailAt = row.tail ? cols.findIndex((c) => c.id === row.tail!.from) : -1;
  let used = GUTTER;
  for (let i = 0; i < cols.length; i++) {
    const c = cols[i]!;
    if (i > 0) {
      add(" ", runTone);
      used++;
    }
    if (i === tailAt && row.tail) {
      add(fit(row.tail.text, width - used), row.tail.tone);
      used = width;
      break;
    }
    used += c.w;
    const render = renderers?.[c.id];
    if (render) {
      flush();
      items.push(
        <Box key={`r:${c.id}`} width={c.w} flexShrink={0}>
          {render(row, c.w)}
        </Box>,
      );
      continue;
    }
    const cell = row.cells[c.id];
    const text = i === 0 && row.depth ? `└ ${cell?.text ?? ""}` : (cell?.text ?? "");
    add(fit(text, c.w, c.align), cell?.tone);
  }
  if (row.tail && used < width - 1) add(` ${fit(row.tail.text, width - used - 1)}`, row.tail.tone);
  flush();
  const sel = selected ? p.selection : {};
  const look = useMemo<LineLook>(
    () => ({ dim: row.dim || stale, inverse: sel.inverse, bold: sel.bold }),
    [row.dim, stale, sel.inverse, sel.bold],
  );
  return (
    <Box width={width} height={1}>
      <LineLookContext.Provider value={look}>{items}</LineLookContext.Provider>
    </Box>
  );
});

/**
 * The one table for the big lists: one line per row, fixed column widths that never overflow,
 * a `›` marker on the selected row (colour is optional), sort markers, and only the visible window
 * of rows rendered, so its cost does not grow with the cluster.
 */
export function DataTable(props: DataTableProps): ReactNode {
  const { rows, selected, width, height, sort, renderers, empty, stale } = props;
  // Widths follow the content of every row (not only the visible ones: no jitter on scroll).
  const cols = useMemo(() => layoutColumns(props.columns, width, rows), [props.columns, width, rows]);
  const bodyHeight = Math.max(0, height - 1);
  const start = props.offset ?? windowStart(Math.max(0, selected), rows.length, bodyHeight);
  const visible = rows.slice(start, start + bodyHeight);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <HeaderLine cols={cols} sort={sort} width={width} />
      {visible.length === 0 && empty ? (
        <Text dimColor wrap="truncate">
          {"  "}
          {empty}
        </Text>
      ) : (
        visible.map((r, i) => (
          <RowLine
            key={r.key}
            row={r}
            cols={cols}
            width={width}
            selected={start + i === selected}
            stale={stale}
            renderers={renderers}
          />
        ))
      )}
    </Box>
  );
}
