// A form for the common case (objective, algorithm, budget, parameters, command) that writes
// the Experiment YAML into the editor, where anything else can be added before creating it.
import { stringify } from "yaml";
import { h } from "../dom";

const ALGORITHMS = ["random", "tpe", "multivariate-tpe", "cmaes", "sobol", "grid", "bayesianoptimization", "hyperband"];
const TYPES = ["double", "int", "categorical"];

interface ParameterRow {
  el: HTMLElement;
  value(): Record<string, unknown> | null;
}

function parameterRow(onRemove: (row: ParameterRow) => void, name = "", type = "double", a = "", b = ""): ParameterRow {
  const nameInput = h("input", { value: name, placeholder: "name", "aria-label": "Parameter name", class: "p-name" });
  const typeSelect = h("select", { "aria-label": "Parameter type", class: "p-type" }, TYPES.map((t) => h("option", { value: t, selected: t === type }, t)));
  const minInput = h("input", { value: a, placeholder: "min", "aria-label": "Minimum", class: "p-min", size: 8 });
  const maxInput = h("input", { value: b, placeholder: "max", "aria-label": "Maximum", class: "p-max", size: 8 });
  const listInput = h("input", { value: a, placeholder: "a, b, c", "aria-label": "Values", class: "p-list", hidden: true });
  const remove = h("button", { type: "button", class: "secondary small", title: "Remove" }, "✕");
  const el = h("div", { class: "param-row" }, nameInput, typeSelect, minInput, maxInput, listInput, remove);
  const sync = () => {
    const categorical = typeSelect.value === "categorical";
    minInput.hidden = maxInput.hidden = categorical;
    listInput.hidden = !categorical;
  };
  typeSelect.addEventListener("change", sync);
  sync();
  const row: ParameterRow = {
    el,
    value: () => {
      const pname = nameInput.value.trim();
      if (!pname) return null;
      const feasibleSpace =
        typeSelect.value === "categorical"
          ? { list: listInput.value.split(",").map((v) => v.trim()).filter(Boolean) }
          : { min: minInput.value.trim(), max: maxInput.value.trim() };
      return { name: pname, parameterType: typeSelect.value, feasibleSpace };
    },
  };
  remove.addEventListener("click", () => onRemove(row));
  return row;
}

/** The form; `write(yaml)` gets the YAML it makes. */
export function experimentForm(write: (yaml: string) => void): HTMLElement {
  const field = (label: string, input: HTMLElement) => h("label", { class: "field" }, h("span", {}, label), input);
  const name = h("input", { value: "my-experiment", "aria-label": "Name" });
  const namespace = h("input", { value: "default", "aria-label": "Namespace" });
  const metric = h("input", { value: "loss", "aria-label": "Objective metric" });
  const direction = h("select", { "aria-label": "Direction" }, h("option", { value: "minimize" }, "minimize"), h("option", { value: "maximize" }, "maximize"));
  const goal = h("input", { placeholder: "none", "aria-label": "Goal", size: 8 });
  const algorithm = h("select", { "aria-label": "Algorithm" }, ALGORITHMS.map((a) => h("option", { value: a }, a)));
  const settings = h("input", { placeholder: "name=value, ...", "aria-label": "Algorithm settings" });
  const maxTrials = h("input", { type: "number", value: "12", min: "1", "aria-label": "Max trials", size: 5 });
  const parallel = h("input", { type: "number", value: "2", min: "1", "aria-label": "Parallel trials", size: 5 });
  const command = h("input", {
    value: "python3 train.py --lr=${trialParameters.lr}",
    "aria-label": "Command",
    class: "wide-input",
    title: "Words split at spaces; ${trialParameters.NAME} is each parameter's value",
  });
  const rows: ParameterRow[] = [];
  const list = h("div", { class: "param-rows" });
  const add = (...args: [string?, string?, string?, string?]) => {
    const row = parameterRow((r) => {
      rows.splice(rows.indexOf(r), 1);
      r.el.remove();
    }, ...args);
    rows.push(row);
    list.append(row.el);
  };
  add("lr", "double", "0.001", "0.1");

  const toYaml = (): string => {
    const parameters = rows.map((r) => r.value()).filter((p): p is Record<string, unknown> => p !== null);
    const words = command.value.trim().split(/\s+/).filter(Boolean);
    const algorithmSettings = settings.value
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => {
        const [key, ...rest] = s.split("=");
        return { name: key.trim(), value: rest.join("=").trim() };
      });
    const objective: Record<string, unknown> = { type: direction.value, objectiveMetricName: metric.value.trim() };
    if (goal.value.trim()) objective.goal = Number(goal.value);
    return stringify({
      apiVersion: "kubeflow.org/v1beta1",
      kind: "Experiment",
      metadata: { name: name.value.trim(), namespace: namespace.value.trim() || "default" },
      spec: {
        objective,
        algorithm: algorithmSettings.length ? { algorithmName: algorithm.value, algorithmSettings } : { algorithmName: algorithm.value },
        maxTrialCount: Number(maxTrials.value),
        parallelTrialCount: Number(parallel.value),
        parameters,
        trialTemplate: {
          primaryContainerName: "training-container",
          trialParameters: parameters.map((p) => ({ name: p.name, reference: p.name })),
          trialSpec: {
            apiVersion: "batch/v1",
            kind: "Job",
            spec: {
              template: {
                spec: {
                  containers: [{ name: "training-container", image: "docker.io/library/python:3.11-slim", command: words }],
                  restartPolicy: "Never",
                },
              },
            },
          },
        },
      },
    });
  };

  return h(
    "details",
    { class: "card form" },
    h("summary", {}, "Fill in a form (the common case)"),
    h(
      "div",
      { class: "form-grid" },
      field("Name", name),
      field("Namespace", namespace),
      field("Objective metric", metric),
      field("Direction", direction),
      field("Goal", goal),
      field("Algorithm", algorithm),
      field("Algorithm settings", settings),
      field("Max trials", maxTrials),
      field("Parallel trials", parallel),
    ),
    h("h3", {}, "Parameters"),
    list,
    h("button", { type: "button", class: "secondary small", onclick: () => add() }, "+ Parameter"),
    h("h3", {}, "Command (the trial prints metric=value lines)"),
    command,
    h("div", { class: "actions" }, h("button", { type: "button", class: "primary", "data-action": "write-yaml", onclick: () => write(toYaml()) }, "Write YAML below")),
  );
}
