// The trial page: parameter assignments, one chart per metric over steps, the log (followed
// live while the trial runs, kept after it ends), conditions, events and the YAML.
import { KATIB, get, getText, streamLines } from "../api";
import { conditionsTable, keyValues } from "../components/conditions";
import { yamlView } from "../components/yaml-view";
import { age, clear, h, statusBadge } from "../dom";
import { drawLive } from "../live";
import type { KubeObject } from "../types";

interface MetricLog {
  timeStamp: string;
  metric: { name: string; value: string };
  step: number;
}

const enc = encodeURIComponent;

function phaseOf(trial: KubeObject): string {
  const conditions: { type: string; status: string }[] = trial.status?.conditions ?? [];
  const on = (t: string) => conditions.some((c) => c.type === t && c.status === "True");
  for (const [type, phase] of [
    ["Killed", "killed"],
    ["Failed", "failed"],
    ["Succeeded", "succeeded"],
    ["EarlyStopped", "early_stopped"],
    ["Running", "running"],
    ["MetricsUnavailable", "metrics_unavailable"],
  ]) {
    if (on(type)) return phase;
  }
  return "pending";
}

export async function trialPage(root: HTMLElement, args: string[], signal: AbortSignal): Promise<void> {
  const [ns, name] = args;
  const trialPath = `${KATIB}/namespaces/${enc(ns)}/trials/${enc(name)}`;
  const header = h("div", { class: "exp-header" });
  const details = h("div", { class: "overview" });
  const charts = h("section", { class: "card wide" }, h("h2", {}, "Metrics by step"));
  const chartsBody = h("div", { class: "metric-charts" });
  charts.append(chartsBody);
  const log = h("pre", { class: "log", "data-log": name });
  const logState = h("span", { class: "muted" });
  const events = h("div");
  const yaml = h("div");
  root.append(
    header,
    details,
    charts,
    h("section", { class: "card wide" }, h("h2", {}, "Log ", logState), log),
    h("section", { class: "card wide" }, h("h2", {}, "Events"), events),
    h("details", { class: "card wide" }, h("summary", {}, "YAML"), yaml),
  );

  let following = false;
  const draw = async () => {
    const trial = await get<KubeObject>(trialPath, signal);
    const phase = phaseOf(trial);
    const experiment = trial.metadata.labels?.["katib.kubeflow.org/experiment"] ?? trial.metadata.ownerReferences?.[0]?.name;
    clear(
      header,
      h(
        "p",
        { class: "crumbs" },
        h("a", { href: "#/" }, "Experiments"),
        ` / ${ns} / `,
        experiment ? h("a", { href: `#/experiments/${enc(ns)}/${enc(experiment)}/trials` }, experiment) : "",
        " /",
      ),
      h("h1", {}, name, " ", statusBadge(phase)),
    );
    clear(
      details,
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Parameters"),
        keyValues((trial.spec.parameterAssignments ?? []).map((p: { name: string; value: string }) => [p.name, p.value])),
      ),
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Metrics"),
        keyValues(
          (trial.status?.observation?.metrics ?? []).map((m: { name: string; min: string; max: string; latest: string }) => [
            m.name,
            `latest ${m.latest} · min ${m.min} · max ${m.max}`,
          ]),
        ),
        keyValues([
          ["Started", trial.status?.startTime ? `${age(trial.status.startTime)} ago` : null],
          ["Completed", trial.status?.completionTime ? `${age(trial.status.completionTime)} ago` : null],
        ]),
      ),
      h("section", { class: "card wide" }, h("h2", {}, "Conditions"), conditionsTable(trial.status?.conditions)),
    );
    clear(yaml, yamlView(trial));
    await Promise.all([drawMetrics(chartsBody, trialPath, signal), drawEvents(events, ns, name, signal)]);
    if (!following) await drawLog(phase);
  };

  const drawLog = async (phase: string) => {
    const path = `/api/v1/namespaces/${enc(ns)}/pods/${enc(name)}/log`;
    if (phase === "running") {
      following = true;
      logState.textContent = "(following)";
      log.textContent = "";
      streamLines(`${path}?follow=true`, (line) => log.append(line + "\n"), signal)
        .catch(() => undefined)
        .finally(() => {
          following = false;
          if (!signal.aborted) logState.textContent = "";
        });
      return;
    }
    if (phase === "pending") {
      logState.textContent = "(not started)";
      return;
    }
    try {
      log.textContent = await getText(path, signal);
      logState.textContent = "";
    } catch (error) {
      logState.textContent = `(${error instanceof Error ? error.message : error})`;
    }
  };

  await drawLive(ns, draw, signal);
}

async function drawMetrics(el: HTMLElement, trialPath: string, signal: AbortSignal): Promise<void> {
  const { metricLogs } = await get<{ metricLogs: MetricLog[] }>(`${trialPath}/observationlog`, signal);
  const byMetric = new Map<string, [number, number][]>();
  for (const entry of metricLogs) {
    const value = Number(entry.metric.value);
    if (!Number.isFinite(value)) continue;
    const points = byMetric.get(entry.metric.name) ?? [];
    points.push([entry.step, value]);
    byMetric.set(entry.metric.name, points);
  }
  if (byMetric.size === 0) {
    clear(el, h("p", { class: "muted" }, "No observations yet."));
    return;
  }
  const { chart } = await import("../charts/echarts");
  const plots = [...byMetric.entries()].map(([metric, points]) => {
    const plot = h("div", { class: "chart small", "data-metric": metric, "data-points": points.length });
    return { metric, points, plot };
  });
  clear(el, ...plots.map((p) => h("div", { class: "metric-chart" }, h("h3", {}, p.metric), p.plot)));
  for (const { metric, points, plot } of plots) {
    chart(
      plot,
      {
        animation: false,
        tooltip: { trigger: "axis" },
        grid: { left: 60, right: 20, top: 10, bottom: 40 },
        xAxis: { type: "value", name: "step", nameLocation: "middle", nameGap: 25, minInterval: 1 },
        yAxis: { type: "value", scale: true },
        series: [{ name: metric, type: "line", data: points, showSymbol: points.length < 50 }],
      },
      signal,
    );
  }
}

async function drawEvents(el: HTMLElement, ns: string, name: string, signal: AbortSignal): Promise<void> {
  const selector = encodeURIComponent(`involvedObject.name=${name}`);
  const { items } = await get<{ items: { type: string; reason: string; message: string; lastTimestamp?: string; count?: number }[] }>(
    `/api/v1/namespaces/${enc(ns)}/events?fieldSelector=${selector}`,
    signal,
  );
  if (items.length === 0) {
    clear(el, h("p", { class: "muted" }, "No events."));
    return;
  }
  clear(
    el,
    h(
      "table",
      { class: "grid compact" },
      h("thead", {}, h("tr", {}, ["Type", "Reason", "Age", "Message"].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        items.map((e) => h("tr", { class: e.type === "Warning" ? "warning" : "" }, h("td", {}, e.type), h("td", {}, e.reason), h("td", {}, age(e.lastTimestamp)), h("td", {}, e.message))),
      ),
    ),
  );
}
