// Parallel coordinates: one line per completed trial across every parameter and the objective,
// coloured by the objective.
import type { Columns } from "../types";
import { chart } from "./echarts";
import { isLog, isNumeric, maximize, ranked } from "./data";

export function parallelChart(el: HTMLElement, columns: Columns, signal: AbortSignal): void {
  const metric = columns.objective.names[0];
  const rows = ranked(columns, metric);
  const params = columns.parameters.map((p) => p.name);
  const axes = params.map((name, dim) => {
    if (isNumeric(columns, name)) {
      return { dim, name, type: isLog(columns, name) ? "log" : "value", scale: true };
    }
    const choices = columns.parameters.find((p) => p.name === name)?.feasibleSpace.list ?? [];
    return { dim, name, type: "category", data: choices };
  });
  axes.push({ dim: params.length, name: metric, type: "value", scale: true });
  const values = columns.metrics[metric];
  const data = rows.map((i) => [...params.map((p) => columns.params[p][i]), values[i]]);
  const objectiveValues = rows.map((i) => values[i] as number);
  el.dataset.lines = String(data.length);
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
      series: [{ type: "parallel", data, lineStyle: { width: 1, opacity: data.length > 1000 ? 0.25 : 0.6 }, progressive: 1000 }],
    },
    signal,
  );
}
