// Intermediate values: the objective by step of each trial (the latest ones); early stopped
// trials dashed in red. Up to OWN_SERIES trials each get a line (and a colour) of their own;
// past that they are drawn as one line broken between trials (one more for the early stopped):
// 300 series of their own cost ECharts ten times as much, and 300 colours say nothing.
import { h } from "../dom";
import type { Intermediate } from "../types";
import { chart, PALETTE } from "./echarts";

const OWN_SERIES = 20;

type Point = [number, number] | null;
type Series = Intermediate["series"][number];

const early = (s: Series) => s.status === "early_stopped";
const stoppedStyle = { type: "dashed", color: PALETTE.failed };

/** One line per trial, named after it. */
function ownSeries(series: Series[]): [unknown[], (p: Hovered) => string] {
  const lines = series.map((s) => ({
    name: s.name,
    type: "line",
    showSymbol: s.values.length < 30,
    symbolSize: 4,
    data: s.values.map((v, i) => [s.steps[i], v]),
    lineStyle: early(s) ? { ...stoppedStyle, width: 1 } : { width: 1 },
    itemStyle: early(s) ? { color: PALETTE.failed } : undefined,
  }));
  return [lines, (p) => p.seriesName];
}

/** Two lines (trials, early stopped) broken between trials; each point's trial by index. */
function mergedSeries(series: Series[]): [unknown[], (p: Hovered) => string] {
  const data: [Point[], Point[]] = [[], []];
  const names: [string[], string[]] = [[], []];
  for (const s of series) {
    const k = early(s) ? 1 : 0;
    s.values.forEach((v, i) => {
      data[k].push([s.steps[i], v]);
      names[k].push(s.name);
    });
    data[k].push(null); // the break before the next trial
    names[k].push("");
  }
  const line = (name: string, points: Point[], style: Record<string, unknown>) => ({
    name,
    type: "line",
    data: points,
    connectNulls: false,
    showSymbol: false,
    lineStyle: { width: 1, ...style },
    itemStyle: { color: style.color },
  });
  const lines = [line("trials", data[0], { color: PALETTE.point, opacity: 0.5 }), line("early stopped", data[1], stoppedStyle)];
  return [lines, (p) => names[p.seriesIndex][p.dataIndex]];
}

interface Hovered {
  seriesName: string;
  seriesIndex: number;
  dataIndex: number;
  data: [number, number];
}

export function intermediateChart(el: HTMLElement, result: Intermediate, signal: AbortSignal): HTMLElement | null {
  const [series, trialOf] = (result.series.length <= OWN_SERIES ? ownSeries : mergedSeries)(result.series);
  el.dataset.series = String(result.series.length);
  chart(
    el,
    {
      animation: false,
      tooltip: { trigger: "item", formatter: (p: Hovered) => `${trialOf(p)}<br>step ${p.data[0]}: ${p.data[1]}` },
      grid: { left: 70, right: 30, top: 30, bottom: 60 },
      xAxis: { type: "value", name: "step", nameLocation: "middle", nameGap: 28, minInterval: 1 },
      yAxis: { type: "value", name: result.metric, scale: true },
      dataZoom: [{ type: "inside" }, { type: "slider", height: 18, bottom: 8, showDataShadow: false }],
      series,
    },
    signal,
  );
  return result.total > result.series.length
    ? h("p", { class: "muted" }, `The latest ${result.series.length} trials with values of ${result.total}.`)
    : null;
}
