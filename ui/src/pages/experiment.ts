// The experiment page: a header (status, counts) and tabs: overview, trials table, plots, YAML.
// Live: each change to the namespace's experiments or trials redraws the header and the tab.
import { experimentPath, get, uiExperimentPath } from "../api";
import { yamlView } from "../components/yaml-view";
import { clear, errorBox, h, statusBadge } from "../dom";
import { onChanges } from "../live";
import type { Columns, ExperimentSummary, KubeObject } from "../types";
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
  let reloadTable: (() => Promise<void>) | null = null;

  const draw = async () => {
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
    if (tab === "trials" && reloadTable) {
      await reloadTable(); // keep the table's page, sort and filter
      return;
    }
    drawing?.abort();
    drawing = new AbortController();
    const local = drawing.signal;
    signal.addEventListener("abort", () => drawing?.abort());
    const next = h("div", { class: "tab-content" });
    await drawTab(tab, next, exp, ns, name, local, draw);
    if (tab === "trials") reloadTable = trialsReload;
    if (!local.aborted) clear(body, next);
  };
  let trialsReload: (() => Promise<void>) | null = null;

  async function drawTab(tab: string, el: HTMLElement, exp: KubeObject, ns: string, name: string, local: AbortSignal, redraw: () => Promise<void>): Promise<void> {
    if (tab === "overview") {
      el.append(overview(exp, ns, () => void redraw()));
      return;
    }
    if (tab === "yaml") {
      el.append(yamlView(exp));
      return;
    }
    if (tab === "trials") {
      const { trialsTable } = await import("../components/trials-table");
      trialsReload = trialsTable(el, ns, name, local);
      await trialsReload();
      return;
    }
    const plot = h("div", { class: "chart", "data-chart": tab });
    el.append(plot);
    // The chart needs its size: draw it once it is in the page.
    const charts = await import("../charts");
    if (tab === "importance") {
      clear(body, el);
      await charts.importanceChart(plot, ns, name, local);
      return;
    }
    if (tab === "intermediate") {
      clear(body, el);
      const note = await charts.intermediateChart(plot, ns, name, local);
      if (note) el.append(note);
      return;
    }
    const columns = await get<Columns>(`${uiExperimentPath(ns, name)}/columns`, local);
    clear(body, el);
    const draw = { history: charts.historyChart, parallel: charts.parallelChart, slice: charts.sliceChart, contour: charts.contourChart, pareto: charts.paretoChart }[tab];
    if (!draw) {
      el.replaceChildren(errorBox(`No view named ${tab}.`));
      return;
    }
    draw(plot, columns, local);
  }

  await draw();
  onChanges(ns, () => void draw().catch(() => undefined), signal);
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
