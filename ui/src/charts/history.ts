// Optimization history: the objective of each completed trial by trial number, and the best
// so far (a step line through the trials that improved on it). `data-points` on the element
// says how many trials it drew (for tests and scripts).
import type { Columns } from "../types";
import { chart, PALETTE } from "./echarts";
import { maximize, ranked } from "./data";

export function historyChart(el: HTMLElement, columns: Columns, signal: AbortSignal): void {
  const metric = columns.objective.names[0];
  const values = columns.metrics[metric] ?? [];
  const up = maximize(columns);
  const points: [number, number][] = [];
  const names: string[] = []; // by the point's index: a string in the data costs ECharts dearly
  const best: [number, number][] = []; // where the best so far changed, and the last trial
  let bestSoFar: number | null = null;
  for (const i of ranked(columns, metric)) {
    const v = values[i] as number;
    points.push([columns.number[i], v]);
    names.push(columns.name[i]);
    if (bestSoFar === null || (up ? v > bestSoFar : v < bestSoFar)) {
      bestSoFar = v;
      best.push([columns.number[i], v]);
    }
  }
  const last = points[points.length - 1];
  if (last && bestSoFar !== null && last[0] !== best[best.length - 1][0]) best.push([last[0], bestSoFar]);
  el.dataset.points = String(points.length);
  chart(
    el,
    {
      animation: false,
      tooltip: {
        trigger: "item",
        formatter: (p: { seriesIndex: number; dataIndex: number; data: [number, number] }) =>
          `${p.seriesIndex === 0 ? names[p.dataIndex] : "best so far"}<br>#${p.data[0]}: ${p.data[1]}`,
      },
      legend: { data: [metric, "best so far"], top: 0, right: 20 },
      grid: { left: 70, right: 30, top: 40, bottom: 70 },
      xAxis: { type: "value", name: "trial", nameLocation: "middle", nameGap: 28, minInterval: 1 },
      yAxis: { type: "value", name: metric, scale: true, axisLine: { onZero: false } },
      dataZoom: [{ type: "inside" }, { type: "slider", height: 18, bottom: 8, showDataShadow: false }],
      series: [
        { name: metric, type: "scatter", data: points, symbolSize: 6, itemStyle: { color: PALETTE.point }, large: points.length > 2000 },
        { name: "best so far", type: "line", step: "end", data: best, showSymbol: false, lineStyle: { color: PALETTE.best, width: 2 }, itemStyle: { color: PALETTE.best } },
      ],
    },
    signal,
  );
}
