// Parallel coordinates: one line per completed trial across every parameter and the objective,
// coloured by the objective. Past MAX_LINES trials it draws the best ones and an even sample of
// the others (and says so): ten thousand lines are a blur that takes seconds to draw.
import { h } from "../dom";
import type { Columns } from "../types";
import { chart } from "./echarts";
import { isLog, isNumeric, maximize, ranked } from "./data";

const MAX_LINES = 1000;
const BEST_LINES = 100;

/** At most MAX_LINES of `rows`: the BEST_LINES best, then an even sample of the rest. */
function sample(rows: number[], values: (number | null)[], up: boolean): number[] {
  if (rows.length <= MAX_LINES) return rows;
  const byValue = [...rows].sort((a, b) => ((values[a] as number) - (values[b] as number)) * (up ? -1 : 1));
  const best = byValue.slice(0, BEST_LINES);
  const rest = byValue.slice(BEST_LINES).sort((a, b) => a - b);
  const step = rest.length / (MAX_LINES - BEST_LINES);
  const even = Array.from({ length: MAX_LINES - BEST_LINES }, (_, k) => rest[Math.floor(k * step)]);
  return [...even, ...best].sort((a, b) => a - b);
}

export function parallelChart(el: HTMLElement, columns: Columns, signal: AbortSignal): void {
  const metric = columns.objective.names[0];
  const values = columns.metrics[metric];
  const all = ranked(columns, metric);
  const rows = sample(all, values, maximize(columns));
  const params = columns.parameters.map((p) => p.name);
  const axes = params.map((name, dim) => {
    if (isNumeric(columns, name)) {
      return { dim, name, type: isLog(columns, name) ? "log" : "value", scale: true };
    }
    const choices = columns.parameters.find((p) => p.name === name)?.feasibleSpace.list ?? [];
    return { dim, name, type: "category", data: choices };
  });
  axes.push({ dim: params.length, name: metric, type: "value", scale: true });
  const data = rows.map((i) => [...params.map((p) => columns.params[p][i]), values[i]]);
  const objectiveValues = all.map((i) => values[i] as number);
  el.dataset.lines = String(data.length);
  el.dataset.trials = String(all.length);
  chart(
    el,
    {
      animation: false,
      parallelAxis: axes,
      parallel: { left: 60, right: 110, top: 50, bottom: 30 },
      visualMap: {
        type: "continuous",
        dimension: params.length,
        min: Math.min(...objectiveValues, 0),
        max: Math.max(...objectiveValues, 1),
        inRange: { color: maximize(columns) ? ["#c7d2fe", "#1e3a8a"] : ["#1e3a8a", "#c7d2fe"] },
        right: 10,
        top: "middle",
        calculable: true,
        text: [metric, ""],
      },
      series: [{ type: "parallel", data, lineStyle: { width: 1, opacity: data.length > 500 ? 0.35 : 0.6 } }],
    },
    signal,
  );
  if (rows.length < all.length) {
    el.after(
      h("p", { class: "muted" }, `${rows.length} of ${all.length} trials drawn: the best ${BEST_LINES} and an even sample of the others.`),
    );
  }
}
