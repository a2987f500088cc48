// Parallel coordinates: one line per completed trial across every parameter and the objective,
// coloured by the objective. Past MAX_LINES trials it draws the best ones and a sample of the
// others stratified by the objective (and says so, above the chart): past a few hundred, thin
// lines can't be told apart, and each costs drawing time (1,000 took half a second).
import { h } from "../dom";
import type { Columns } from "../types";
import { chart } from "./echarts";
import { isLog, isNumeric, maximize, ranked } from "./data";

const MAX_LINES = 400;
const BEST_LINES = 100;

/** At most MAX_LINES of `rows`: the BEST_LINES best, then the others taken at even steps of
 * their rank by objective, so each range of the objective keeps its share of lines; worst
 * first, so that the best are drawn on top. */
function sample(rows: number[], values: (number | null)[], up: boolean): number[] {
  const byValue = [...rows].sort((a, b) => ((values[a] as number) - (values[b] as number)) * (up ? -1 : 1));
  if (rows.length <= MAX_LINES) return byValue.reverse();
  const rest = byValue.slice(BEST_LINES);
  const step = rest.length / (MAX_LINES - BEST_LINES);
  const strata = Array.from({ length: MAX_LINES - BEST_LINES }, (_, k) => rest[Math.floor(k * step)]);
  return [...byValue.slice(0, BEST_LINES), ...strata].reverse();
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
  let low = Infinity;
  let high = -Infinity;
  for (const i of all) {
    low = Math.min(low, values[i] as number);
    high = Math.max(high, values[i] as number);
  }
  el.dataset.lines = String(data.length);
  el.dataset.trials = String(all.length);
  // Said before the chart is drawn: a note put in after it would move the page and redraw it.
  if (rows.length < all.length) {
    el.before(
      h(
        "p",
        { class: "muted" },
        `${rows.length} of ${all.length} trials drawn: the best ${BEST_LINES} and ${rows.length - BEST_LINES} others spread evenly over the ranks of ${metric}.`,
      ),
    );
  }
  chart(
    el,
    {
      animation: false,
      parallelAxis: axes,
      parallel: { left: 60, right: 110, top: 50, bottom: 30 },
      visualMap: {
        type: "continuous",
        dimension: params.length,
        min: Math.min(low, 0),
        max: Math.max(high, 1),
        inRange: { color: maximize(columns) ? ["#c7d2fe", "#1e3a8a"] : ["#1e3a8a", "#c7d2fe"] },
        right: 10,
        top: "middle",
        calculable: true,
        text: [metric, ""],
      },
      series: [{ type: "parallel", data, lineStyle: { width: 1, opacity: 0.5 } }],
    },
    signal,
  );
}
