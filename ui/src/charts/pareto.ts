// The Pareto front of a multi-objective experiment: the first two objectives, the Pareto
// optimal trials highlighted.
import type { Columns } from "../types";
import { chart, PALETTE } from "./echarts";
import { ranked } from "./data";

export function paretoChart(el: HTMLElement, columns: Columns, signal: AbortSignal): void {
  const [a, b] = columns.objective.names;
  const optimal = new Set(columns.pareto);
  const front: [number, number, string][] = [];
  const others: [number, number, string][] = [];
  for (const i of ranked(columns, a)) {
    const vb = columns.metrics[b]?.[i];
    if (vb === null || vb === undefined) continue;
    (optimal.has(columns.name[i]) ? front : others).push([columns.metrics[a][i] as number, vb, columns.name[i]]);
  }
  el.dataset.front = String(front.length);
  chart(
    el,
    {
      animation: false,
      legend: { data: ["Pareto optimal", "other trials"], top: 0, right: 20 },
      tooltip: { formatter: (p: { data: [number, number, string] }) => `${p.data[2]}<br>${a}: ${p.data[0]}<br>${b}: ${p.data[1]}` },
      grid: { left: 70, right: 30, top: 40, bottom: 50 },
      xAxis: { type: "value", name: `${a} (${columns.objective.types[0]})`, scale: true, axisLine: { onZero: false }, nameLocation: "middle", nameGap: 28 },
      yAxis: { type: "value", name: `${b} (${columns.objective.types[1]})`, scale: true, axisLine: { onZero: false } },
      series: [
        { name: "other trials", type: "scatter", data: others, symbolSize: 6, itemStyle: { color: PALETTE.muted } },
        { name: "Pareto optimal", type: "scatter", data: front, symbolSize: 9, itemStyle: { color: PALETTE.best } },
      ],
    },
    signal,
  );
}
