// Slice: the objective against one parameter; contour: against two (a heat map of the mean
// objective over a grid, with the trials on top).
import { h } from "../dom";
import type { Columns } from "../types";
import { chart, PALETTE } from "./echarts";
import { chooser, isLog, isNumeric, maximize, ranked } from "./data";

function axis(columns: Columns, param: string): Record<string, unknown> {
  if (isNumeric(columns, param)) return { type: isLog(columns, param) ? "log" : "value", name: param, scale: true, nameLocation: "middle", nameGap: 28 };
  const list = columns.parameters.find((p) => p.name === param)?.feasibleSpace.list ?? [];
  return { type: "category", data: list, name: param, nameLocation: "middle", nameGap: 28 };
}

export function sliceChart(el: HTMLElement, columns: Columns, signal: AbortSignal): void {
  const params = columns.parameters.map((p) => p.name);
  const metric = columns.objective.names[0];
  const plot = h("div", { class: "chart" });
  let controller: AbortController | null = null;
  const draw = (param: string) => {
    controller?.abort();
    controller = new AbortController();
    signal.addEventListener("abort", () => controller?.abort());
    const data = ranked(columns, metric).map((i) => [columns.params[param][i], columns.metrics[metric][i], columns.number[i]]);
    plot.dataset.points = String(data.length);
    chart(
      plot,
      {
        animation: false,
        tooltip: { formatter: (p: { data: [unknown, number, number] }) => `#${p.data[2]}<br>${param}: ${p.data[0]}<br>${metric}: ${p.data[1]}` },
        grid: { left: 70, right: 30, top: 40, bottom: 50 },
        xAxis: axis(columns, param),
        yAxis: { type: "value", name: metric, scale: true, axisLine: { onZero: false } },
        visualMap: { show: false, dimension: 2, min: 0, max: Math.max(1, ...columns.number), inRange: { color: ["#bfdbfe", "#1d4ed8"] } },
        series: [{ type: "scatter", data, symbolSize: 7, large: data.length > 2000 }],
      },
      controller.signal,
    );
  };
  el.replaceChildren(h("div", { class: "controls" }, chooser("Parameter", params, params[0], draw)), plot);
  el.classList.remove("chart");
  draw(params[0]);
}

const BINS = 20;

function bin(value: unknown, columns: Columns, param: string, lo: number, hi: number): number | string {
  if (!isNumeric(columns, param)) return String(value);
  const log = isLog(columns, param) && lo > 0;
  const v = log ? Math.log(value as number) : (value as number);
  const [a, b] = log ? [Math.log(lo), Math.log(hi)] : [lo, hi];
  return b > a ? Math.min(BINS - 1, Math.floor(((v - a) / (b - a)) * BINS)) : 0;
}

function categories(columns: Columns, param: string, lo: number, hi: number): string[] {
  if (!isNumeric(columns, param)) return columns.parameters.find((p) => p.name === param)?.feasibleSpace.list ?? [];
  const log = isLog(columns, param) && lo > 0;
  return Array.from({ length: BINS }, (_, k) => {
    const t = (k + 0.5) / BINS;
    const v = log ? Math.exp(Math.log(lo) + t * (Math.log(hi) - Math.log(lo))) : lo + t * (hi - lo);
    return Number(v.toPrecision(3)).toString();
  });
}

export function contourChart(el: HTMLElement, columns: Columns, signal: AbortSignal): void {
  const params = columns.parameters.map((p) => p.name);
  const metric = columns.objective.names[0];
  const plot = h("div", { class: "chart" });
  let x = params[0];
  let y = params[1] ?? params[0];
  let controller: AbortController | null = null;
  const draw = () => {
    controller?.abort();
    controller = new AbortController();
    signal.addEventListener("abort", () => controller?.abort());
    const rows = ranked(columns, metric);
    const range = (p: string) => {
      const vs = rows.map((i) => columns.params[p][i]).filter((v): v is number => typeof v === "number");
      return [Math.min(...vs), Math.max(...vs)];
    };
    const [xlo, xhi] = isNumeric(columns, x) ? range(x) : [0, 0];
    const [ylo, yhi] = isNumeric(columns, y) ? range(y) : [0, 0];
    const xs = categories(columns, x, xlo, xhi);
    const ys = categories(columns, y, ylo, yhi);
    const cells = new Map<string, [number, number]>();
    for (const i of rows) {
      const bx = bin(columns.params[x][i], columns, x, xlo, xhi);
      const by = bin(columns.params[y][i], columns, y, ylo, yhi);
      const key = `${typeof bx === "number" ? bx : xs.indexOf(bx)},${typeof by === "number" ? by : ys.indexOf(by)}`;
      const cell = cells.get(key) ?? [0, 0];
      cell[0] += columns.metrics[metric][i] as number;
      cell[1] += 1;
      cells.set(key, cell);
    }
    const data = [...cells.entries()].map(([key, [sum, n]]) => [...key.split(",").map(Number), Number((sum / n).toPrecision(5))]);
    const means = data.map((d) => d[2]);
    plot.dataset.cells = String(data.length);
    chart(
      plot,
      {
        animation: false,
        tooltip: { formatter: (p: { data: number[] }) => `${x} ≈ ${xs[p.data[0]]}<br>${y} ≈ ${ys[p.data[1]]}<br>mean ${metric}: ${p.data[2]}` },
        grid: { left: 90, right: 110, top: 20, bottom: 60 },
        xAxis: { type: "category", data: xs, name: x, nameLocation: "middle", nameGap: 36 },
        yAxis: { type: "category", data: ys, name: y, nameLocation: "middle", nameGap: 60 },
        visualMap: {
          min: Math.min(...means),
          max: Math.max(...means),
          calculable: true,
          right: 10,
          top: "middle",
          text: [metric, ""],
          inRange: { color: maximize(columns) ? ["#eff6ff", "#1e3a8a"] : ["#1e3a8a", "#eff6ff"] },
        },
        series: [{ type: "heatmap", data, emphasis: { itemStyle: { borderColor: PALETTE.best, borderWidth: 1 } } }],
      },
      controller.signal,
    );
  };
  el.replaceChildren(
    h(
      "div",
      { class: "controls" },
      chooser("x", params, x, (v) => ((x = v), draw())),
      chooser("y", params, y, (v) => ((y = v), draw())),
      h("span", { class: "muted" }, `mean ${metric} per cell of a ${BINS}×${BINS} grid`),
    ),
    plot,
  );
  el.classList.remove("chart");
  draw();
}
