// The experiment page: a header (status, counts) and tabs: overview, trials table, plots, YAML.
// Live: each change to the namespace's experiments or trials redraws the header and the tab.
import { experimentPath, get, uiExperimentPath } from "../api";
import { firstPage, trialsTable } from "../components/trials-table";
import { clear, errorBox, h, statusBadge } from "../dom";
import { drawLive } from "../live";
import type { Columns, ExperimentSummary, Importance, Intermediate, KubeObject, TrialsPage } from "../types";
import { overview } from "./experiment-overview";

type Tab = { id: string; label: string; multiObjectiveOnly?: boolean };
const TABS: Tab[] = [
  { id: "overview", label: "Overview" },
  { id: "trials", label: "Trials" },
  { id: "history", label: "History" },
  { id: "parallel", label: "Parallel coordinates" },
  { id: "importance", label: "Importance" },
  { id: "intermediate", label: "Intermediate values" },
  { id: "slice", label: "Slice" },
  { id: "contour", label: "Contour" },
  { id: "pareto", label: "Pareto front", multiObjectiveOnly: true },
  { id: "yaml", label: "YAML" },
];

export async function experimentPage(root: HTMLElement, args: string[], signal: AbortSignal): Promise<void> {
  const [ns, name, tabArg] = args;
  const tab = tabArg ?? "overview";
  const header = h("div", { class: "exp-header" });
  const tabs = h("nav", { class: "tabs" });
  const body = h("div", { class: "tab-body", "data-tab": tab });
  root.append(header, tabs, body);

  let drawing: AbortController | null = null;
  let update: Update | null = null; // a tab that updates in place (the table keeps its page)

  if (tab in TAB_DATA) void import("../charts").catch(() => undefined); // ECharts loads meanwhile

  const draw = async () => {
    // The tab's data is asked for beside the experiment: one round trip, not two.
    const data = update ? null : tabData(tab, ns, name, signal);
    data?.catch(() => undefined); // awaited by drawTab (unless the experiment's read fails)
    const [exp, summaries] = await Promise.all([
      get<KubeObject>(experimentPath(ns, name), signal),
      get<{ items: ExperimentSummary[] }>(`/ui/api/namespaces/${encodeURIComponent(ns)}/experiments`, signal),
    ]);
    const summary = summaries.items.find((e) => e.name === name);
    const multi = (exp.spec.objective?.objectives ?? []).length > 1;
    clear(header, headerFor(exp, summary));
    clear(
      tabs,
      ...TABS.filter((t) => !t.multiObjectiveOnly || multi).map((t) =>
        h("a", { href: `#/experiments/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/${t.id}`, class: t.id === tab ? "active" : "" }, t.label),
      ),
    );
    if (update) {
      await update();
      return;
    }
    drawing?.abort();
    drawing = new AbortController();
    const local = AbortSignal.any([signal, drawing.signal]);
    const content = h("div", { class: "tab-content" });
    // The new content replaces the old once its data is there (charts need their size).
    const show = () => !local.aborted && clear(body, content);
    update = await drawTab(tab, content, { ns, name, exp, data, signal: local, show, redraw: () => void draw() });
  };

  await drawLive(ns, draw, signal);
}

type Update = () => Promise<void>;

/** Where each plot tab's data comes from (under the experiment's /ui/api path). */
const TAB_DATA: Record<string, string> = {
  history: "columns",
  parallel: "columns",
  slice: "columns",
  contour: "columns",
  pareto: "columns",
  importance: "importance",
  intermediate: "intermediate",
};

function tabData(tab: string, ns: string, name: string, signal: AbortSignal): Promise<unknown> | null {
  if (tab === "trials") return firstPage(ns, name, signal);
  const path = TAB_DATA[tab];
  return path ? get<unknown>(`${uiExperimentPath(ns, name)}/${path}`, signal) : null;
}

interface TabContext {
  ns: string;
  name: string;
  exp: KubeObject;
  data: Promise<unknown> | null; // the tab's data, asked for already (TAB_DATA)
  signal: AbortSignal;
  show: () => void; // puts the tab's element in the page
  redraw: () => void;
}

/** Draws `tab` into `el`; returns how to update it in place, if it can. */
async function drawTab(tab: string, el: HTMLElement, ctx: TabContext): Promise<Update | null> {
  const { ns, name, signal } = ctx;
  if (tab === "overview" || tab === "yaml") {
    // The YAML printer (100 kB) is loaded for its tab only.
    el.append(tab === "overview" ? overview(ctx.exp, ns, ctx.redraw) : (await import("../components/yaml-view")).yamlView(ctx.exp));
    ctx.show();
    return null;
  }
  if (tab === "trials") {
    const reload = trialsTable(el, ns, name, signal, (ctx.data as Promise<TrialsPage> | null) ?? undefined);
    await reload();
    ctx.show();
    return reload;
  }
  const plot = h("div", { class: "chart", "data-chart": tab });
  el.append(plot);
  const charts = await import("../charts");
  const data = await (ctx.data ?? tabData(tab, ns, name, signal));
  if (tab === "importance") {
    ctx.show();
    charts.importanceChart(plot, data as Importance, signal);
    return null;
  }
  if (tab === "intermediate") {
    ctx.show();
    const note = charts.intermediateChart(plot, data as Intermediate, signal);
    if (note) el.append(note);
    return null;
  }
  const byColumns = { history: charts.historyChart, parallel: charts.parallelChart, slice: charts.sliceChart, contour: charts.contourChart, pareto: charts.paretoChart }[tab];
  if (!byColumns) {
    el.replaceChildren(errorBox(`No view named ${tab}.`));
    ctx.show();
    return null;
  }
  ctx.show();
  byColumns(plot, data as Columns, signal);
  return null;
}

function headerFor(exp: KubeObject, summary: ExperimentSummary | undefined): HTMLElement {
  const t = summary?.trials;
  return h(
    "div",
    {},
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Experiments"), ` / ${exp.metadata.namespace} /`),
    h(
      "h1",
      {},
      exp.metadata.name,
      " ",
      statusBadge(summary?.status ?? "Created"),
    ),
    t
      ? h(
          "p",
          { class: "counts", "data-succeeded": t.succeeded },
          h("span", { class: "c-succeeded" }, `✔ ${t.succeeded} succeeded`),
          h("span", { class: "c-running" }, `⟳ ${t.running} running`),
          h("span", { class: "c-failed" }, `✖ ${t.failed} failed`),
          h("span", { class: "c-earlystopped" }, `⊘ ${t.earlyStopped} early stopped`),
          h("span", { class: "muted" }, `of ${summary?.maxTrialCount ?? "∞"} trials`),
        )
      : null,
  );
}
