// The experiment's overview: conditions, objective and goal, the best trial, the budget (with
// an edit action that PATCHes spec.maxTrialCount, restarting a resumable experiment).
import { experimentPath, request } from "../api";
import { conditionsTable, keyValues } from "../components/conditions";
import { promptDialog } from "../components/dialog";
import { formatValue, h } from "../dom";
import type { KubeObject } from "../types";

export function overview(exp: KubeObject, ns: string, onChanged: () => void): HTMLElement {
  const spec = exp.spec ?? {};
  const status = exp.status ?? {};
  const objective = spec.objective ?? {};
  const best = status.currentOptimalTrial ?? {};
  const objectives: { name: string; type: string }[] = objective.objectives ?? [{ name: objective.objectiveMetricName, type: objective.type }];

  const edit = h("button", { class: "secondary small", "data-action": "edit-budget" }, "Edit");
  edit.addEventListener("click", async () => {
    const value = await promptDialog("Trial budget", "maxTrialCount", String(spec.maxTrialCount ?? ""));
    if (value === null) return;
    const count = Number(value);
    if (!Number.isInteger(count) || count < 1) {
      alert("maxTrialCount must be a whole number of at least 1.");
      return;
    }
    try {
      await request(experimentPath(ns, exp.metadata.name), {
        method: "PATCH",
        body: { spec: { maxTrialCount: count } },
        contentType: "application/merge-patch+json",
      });
      onChanged();
    } catch (error) {
      alert(`The budget was not changed: ${error instanceof Error ? error.message : error}`);
    }
  });

  const bestBlock = best.bestTrialName
    ? h(
        "div",
        {},
        h("p", {}, h("a", { href: `#/trials/${encodeURIComponent(ns)}/${encodeURIComponent(best.bestTrialName)}` }, `★ ${best.bestTrialName}`)),
        keyValues((best.parameterAssignments ?? []).map((p: { name: string; value: string }) => [p.name, p.value])),
        h(
          "table",
          { class: "grid compact" },
          h("thead", {}, h("tr", {}, ["Metric", "min", "max", "latest"].map((c) => h("th", {}, c)))),
          h(
            "tbody",
            {},
            (best.observation?.metrics ?? []).map((m: { name: string; min: string; max: string; latest: string }) =>
              h("tr", {}, h("td", {}, m.name), h("td", { class: "num" }, m.min), h("td", { class: "num" }, m.max), h("td", { class: "num" }, m.latest)),
            ),
          ),
        ),
      )
    : h("p", { class: "muted" }, "No trial has completed yet.");

  return h(
    "div",
    { class: "overview" },
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Objective"),
      keyValues([
        ["Objective", objectives.map((o) => `${o.type} ${o.name}`).join(", ")],
        ["Goal", objective.goal !== undefined ? formatValue(objective.goal) : "none"],
        ["Additional metrics", (objective.additionalMetricNames ?? []).join(", ")],
        ["Algorithm", spec.algorithm?.algorithmName],
        ["Settings", (spec.algorithm?.algorithmSettings ?? []).map((s: { name: string; value: string }) => `${s.name}=${s.value}`).join(", ")],
        ["Early stopping", spec.earlyStopping?.algorithmName],
        ["Parameters", (spec.parameters ?? []).map((p: { name: string; parameterType: string }) => `${p.name} (${p.parameterType})`).join(", ")],
      ]),
    ),
    h("section", { class: "card" }, h("h2", {}, "Best trial"), bestBlock),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Budget ", edit),
      keyValues([
        ["maxTrialCount", h("span", { "data-field": "maxTrialCount" }, String(spec.maxTrialCount ?? "unlimited"))],
        ["parallelTrialCount", spec.parallelTrialCount],
        ["maxFailedTrialCount", spec.maxFailedTrialCount ?? "unlimited"],
        ["resumePolicy", spec.resumePolicy],
        ["Trials", `${status.trials ?? 0} created, ${status.trialsSucceeded ?? 0} succeeded, ${status.trialsRunning ?? 0} running, ${status.trialsFailed ?? 0} failed`],
      ]),
    ),
    h("section", { class: "card wide" }, h("h2", {}, "Conditions"), conditionsTable(status.conditions)),
  );
}
