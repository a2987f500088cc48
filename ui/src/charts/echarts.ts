// Apache ECharts, with only the charts and components the UI draws (a smaller bundle).
import { BarChart, HeatmapChart, LineChart, ParallelChart, ScatterChart } from "echarts/charts";
import {
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  ParallelComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapContinuousComponent,
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
  ParallelComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapContinuousComponent,
  CanvasRenderer,
]);

export type EChart = echarts.ECharts;
export type Option = echarts.EChartsCoreOption;

/** A chart in `el`, resized with it and disposed of when `signal` aborts. Once ECharts has
 * drawn it, `el` gets `data-drawn`: when, in ms from the page's start (what tests and
 * bench/ui.py wait for). */
export function chart(el: HTMLElement, option: Option, signal: AbortSignal): EChart {
  const instance = echarts.init(el, undefined, { renderer: "canvas" });
  instance.on("finished", () => {
    el.dataset.drawn = performance.now().toFixed(0);
  });
  instance.setOption(option);
  // Redrawn when its size changes (not on the observer's first call: that is the size it has).
  let size = `${el.clientWidth}x${el.clientHeight}`;
  const observer = new ResizeObserver(() => {
    const now = `${el.clientWidth}x${el.clientHeight}`;
    if (now !== size) instance.resize();
    size = now;
  });
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
