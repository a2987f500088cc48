// Parameter importance, as the server computed it (fANOVA or PED-ANOVA).
import { h } from "../dom";
import type { Importance } from "../types";
import { chart } from "./echarts";

export function importanceChart(el: HTMLElement, result: Importance, signal: AbortSignal): void {
  if (result.importances.length === 0) {
    el.classList.remove("chart");
    el.replaceChildren(h("p", { class: "empty" }, result.message ?? "No importance yet."));
    return;
  }
  const sorted = [...result.importances].reverse(); // the most important on top
  el.dataset.params = String(sorted.length);
  chart(
    el,
    {
      animation: false,
      title: { text: `${result.evaluator} over ${result.trials} trials (${result.metric})`, left: "center", textStyle: { fontSize: 13, fontWeight: "normal" } },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 140, right: 40, top: 40, bottom: 30 },
      xAxis: { type: "value", max: 1 },
      yAxis: { type: "category", data: sorted.map((i) => i.name) },
      series: [{ type: "bar", data: sorted.map((i) => Number(i.value.toFixed(4))), itemStyle: { color: "#3b82f6" }, label: { show: true, position: "right" } }],
    },
    signal,
  );
}
