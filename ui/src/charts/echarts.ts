// Apache ECharts, with only the charts and components the UI draws (a smaller bundle).
import { BarChart, HeatmapChart, LineChart, ParallelChart, ScatterChart } from "echarts/charts";
import {
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  ParallelComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapComponent,
} from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([
  BarChart,
  HeatmapChart,
  LineChart,
  ParallelChart,
  ScatterChart,
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  ParallelComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
]);

export type EChart = echarts.ECharts;
export type Option = echarts.EChartsCoreOption;

/** A chart in `el`, resized with it and disposed of when `signal` aborts. Once ECharts has
 * drawn it, `el` gets `data-drawn` (what tests and bench/ui.py wait for). */
export function chart(el: HTMLElement, option: Option, signal: AbortSignal): EChart {
  const instance = echarts.init(el, undefined, { renderer: "canvas" });
  instance.on("finished", () => {
    el.dataset.drawn = "";
  });
  instance.setOption(option);
  const observer = new ResizeObserver(() => instance.resize());
  observer.observe(el);
  signal.addEventListener("abort", () => {
    observer.disconnect();
    instance.dispose();
  });
  return instance;
}

export const PALETTE = {
  point: "#3b82f6",
  best: "#f59e0b",
  failed: "#dc2626",
  muted: "#9ca3af",
};
