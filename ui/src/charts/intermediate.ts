// Intermediate values: the objective by step of each trial (the latest ones); early stopped
// trials dashed in red. The trials' curves are drawn as one line broken between trials (one
// for the early stopped ones): 300 series of their own cost ECharts ten times as much.
import { h } from "../dom";
import type { Intermediate } from "../types";
import { chart, PALETTE } from "./echarts";

type Point = [number, number] | null;

export function intermediateChart(el: HTMLElement, result: Intermediate, signal: AbortSignal): HTMLElement | null {
  const curves: Point[] = [];
  const stopped: Point[] = [];
  // Each point's trial, by series and index: a string in the data costs ECharts dearly.
  const names: [string[], string[]] = [[], []];
  for (const s of result.series) {
    const early = s.status === "early_stopped";
    const into = early ? stopped : curves;
    const named = names[early ? 1 : 0];
    s.values.forEach((v, i) => {
      into.push([s.steps[i], v]);
      named.push(s.name);
    });
    into.push(null); // the break before the next trial
    named.push("");
  }
  el.dataset.series = String(result.series.length);
  const line = (name: string, data: Point[], style: Record<string, unknown>) => ({
    name,
    type: "line",
    data,
    connectNulls: false,
    showSymbol: false,
    symbolSize: 4,
    lineStyle: { width: 1, ...style },
    itemStyle: style.color ? { color: style.color } : undefined,
  });
  chart(
    el,
    {
      animation: false,
      legend: stopped.length ? { data: ["trials", "early stopped"], top: 0, right: 20 } : undefined,
      tooltip: {
        trigger: "item",
        formatter: (p: { seriesIndex: number; dataIndex: number; data: [number, number] }) =>
          `${names[p.seriesIndex][p.dataIndex]}<br>step ${p.data[0]}: ${p.data[1]}`,
      },
      grid: { left: 70, right: 30, top: 30, bottom: 60 },
      xAxis: { type: "value", name: "step", nameLocation: "middle", nameGap: 28, minInterval: 1 },
      yAxis: { type: "value", name: result.metric, scale: true },
      dataZoom: [{ type: "inside" }, { type: "slider", height: 18, bottom: 8 }],
      series: [
        line("trials", curves, { color: PALETTE.point, opacity: 0.6 }),
        line("early stopped", stopped, { type: "dashed", color: PALETTE.failed }),
      ],
    },
    signal,
  );
  return result.total > result.series.length
    ? h("p", { class: "muted" }, `The latest ${result.series.length} trials with values of ${result.total}.`)
    : null;
}
