// Conditions and key-value blocks shared by the experiment and trial pages.
import { age, h } from "../dom";
import type { Condition } from "../types";

export function conditionsTable(conditions: Condition[] | undefined): HTMLElement {
  if (!conditions?.length) return h("p", { class: "muted" }, "No conditions yet.");
  return h(
    "table",
    { class: "grid conditions" },
    h("thead", {}, h("tr", {}, ["Type", "Status", "Reason", "Message", "Changed"].map((c) => h("th", {}, c)))),
    h(
      "tbody",
      {},
      conditions.map((c) =>
        h(
          "tr",
          { class: c.status === "True" ? "" : "muted" },
          h("td", {}, c.type),
          h("td", {}, c.status),
          h("td", {}, c.reason ?? ""),
          h("td", {}, c.message ?? ""),
          h("td", { title: c.lastTransitionTime ?? "" }, c.lastTransitionTime ? `${age(c.lastTransitionTime)} ago` : ""),
        ),
      ),
    ),
  );
}

export function keyValues(pairs: [string, Node | string | number | null | undefined][]): HTMLElement {
  return h(
    "dl",
    { class: "kv" },
    pairs.filter(([, v]) => v !== null && v !== undefined && v !== "").flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v as Node | string)]),
  );
}
