// Helpers over the experiment's columns (/ui/api/.../columns).
import type { Columns } from "../types";

export const RANKED = new Set(["succeeded", "early_stopped"]);

export function maximize(columns: Columns, metric?: string): boolean {
  const i = metric ? columns.objective.names.indexOf(metric) : 0;
  return columns.objective.types[Math.max(i, 0)] === "maximize";
}

/** Indexes of trials with a value of `metric` that can rank (succeeded or early stopped). */
export function ranked(columns: Columns, metric: string): number[] {
  const values = columns.metrics[metric] ?? [];
  const out: number[] = [];
  for (let i = 0; i < columns.name.length; i++) {
    if (RANKED.has(columns.status[i]) && values[i] !== null && values[i] !== undefined) out.push(i);
  }
  return out;
}

export function isNumeric(columns: Columns, param: string): boolean {
  const spec = columns.parameters.find((p) => p.name === param);
  return spec !== undefined && spec.parameterType !== "categorical";
}

export function isLog(columns: Columns, param: string): boolean {
  const spec = columns.parameters.find((p) => p.name === param);
  return (spec?.feasibleSpace.distribution ?? "").startsWith("log");
}

/** A select of the parameters (or metrics), for the slice and contour views. */
export function chooser(label: string, options: string[], selected: string, onChange: (v: string) => void): HTMLLabelElement {
  const select = document.createElement("select");
  for (const o of options) {
    const option = document.createElement("option");
    option.value = o;
    option.textContent = o;
    option.selected = o === selected;
    select.append(option);
  }
  select.addEventListener("change", () => onChange(select.value));
  const wrapper = document.createElement("label");
  wrapper.className = "chooser";
  wrapper.append(label + " ", select);
  return wrapper;
}
