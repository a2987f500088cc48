// Intermediate values: the objective by step of each trial (the latest ones); early stopped
// trials dashed in red.
import { get, uiExperimentPath } from "../api";
import { h } from "../dom";
import { chart, PALETTE } from "./echarts";

interface Intermediate {
  metric: string;
  total: number;
  series: { name: string; status: string; steps: number[]; values: number[] }[];
}

export async function intermediateChart(el: HTMLElement, ns: string, name: string, signal: AbortSignal): Promise<HTMLElement | null> {
  const result = await get<Intermediate>(`${uiExperimentPath(ns, name)}/intermediate`, signal);
  el.dataset.series = String(result.series.length);
  chart(
    el,
    {
      animation: false,
      tooltip: { trigger: "item", formatter: (p: { seriesName: string; data: [number, number] }) => `${p.seriesName}<br>step ${p.data[0]}: ${p.data[1]}` },
      grid: { left: 70, right: 30, top: 30, bottom: 60 },
      xAxis: { type: "value", name: "step", nameLocation: "middle", nameGap: 28, minInterval: 1 },
      yAxis: { type: "value", name: result.metric, scale: true },
      dataZoom: [{ type: "inside" }, { type: "slider", height: 18, bottom: 8 }],
      series: result.series.map((s) => ({
        name: s.name,
        type: "line",
        showSymbol: s.values.length < 30,
        symbolSize: 4,
        data: s.values.map((v, i) => [s.steps[i], v]),
        lineStyle: s.status === "early_stopped" ? { type: "dashed", color: PALETTE.failed, width: 1 } : { width: 1 },
        itemStyle: s.status === "early_stopped" ? { color: PALETTE.failed } : undefined,
      })),
    },
    signal,
  );
  return result.total > result.series.length
    ? h("p", { class: "muted" }, `The latest ${result.series.length} trials with values of ${result.total}.`)
    : null;
}
