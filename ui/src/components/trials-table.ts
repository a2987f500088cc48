// The trials table, paged, sorted and filtered on the server (/ui/api/.../trials), so that
// 10,000 trials cost one page of rows. The best trial is highlighted.
import { get, uiExperimentPath } from "../api";
import { clear, formatValue, h, statusBadge } from "../dom";
import type { TrialsPage } from "../types";

const PAGE_SIZES = [25, 50, 100, 200];
const STATUSES = ["succeeded", "running", "pending", "failed", "killed", "early_stopped", "metrics_unavailable"];

interface State {
  offset: number;
  limit: number;
  sort: string;
  order: "asc" | "desc";
  status: string;
  q: string;
}

const FIRST: State = { offset: 0, limit: 50, sort: "name", order: "asc", status: "", q: "" };

function pagePath(ns: string, name: string, state: State): string {
  const query = new URLSearchParams({
    offset: String(state.offset),
    limit: String(state.limit),
    sort: state.sort,
    order: state.order,
  });
  if (state.status) query.set("status", state.status);
  if (state.q) query.set("q", state.q);
  return `${uiExperimentPath(ns, name)}/trials?${query}`;
}

/** The table's first page (what `trialsTable` shows first), to ask for it early. */
export const firstPage = (ns: string, name: string, signal: AbortSignal) => get<TrialsPage>(pagePath(ns, name, FIRST), signal);

/** Draws the table into `el`; returns a function that reloads the current page (the first
 * call uses `first`, the first page when it was asked for already). */
export function trialsTable(el: HTMLElement, ns: string, name: string, signal: AbortSignal, first?: Promise<TrialsPage>): () => Promise<void> {
  const state: State = { ...FIRST };
  let early = first;
  const statusSelect = h(
    "select",
    { "aria-label": "Status" },
    h("option", { value: "" }, "Any status"),
    STATUSES.map((s) => h("option", { value: s }, s.replace(/_/g, " "))),
  );
  const search = h("input", { type: "search", placeholder: "Trial name", "aria-label": "Trial name" });
  const sizeSelect = h("select", { "aria-label": "Rows per page" }, PAGE_SIZES.map((n) => h("option", { value: n, selected: n === state.limit }, `${n} rows`)));
  const body = h("div", { class: "table-body" });
  const pager = h("div", { class: "pager" });
  el.append(h("div", { class: "controls" }, statusSelect, search, sizeSelect), body, pager);

  const load = async () => {
    const page = await (early ?? get<TrialsPage>(pagePath(ns, name, state), signal));
    early = undefined;
    clear(body, render(page));
    clear(pager, pagerFor(page));
  };

  const header = (label: string, column: string) => {
    const active = state.sort === column;
    const th = h("th", { class: active ? `sorted ${state.order}` : "", "data-sort": column, title: `Sort by ${label}` }, label, active ? (state.order === "asc" ? " ▲" : " ▼") : "");
    th.addEventListener("click", () => {
      state.order = active && state.order === "asc" ? "desc" : "asc";
      state.sort = column;
      state.offset = 0;
      void load();
    });
    return th;
  };

  const render = (page: TrialsPage): HTMLElement => {
    if (page.total === 0) return h("p", { class: "empty" }, state.status || state.q ? "No trial matches." : "No trials yet.");
    const thead = h(
      "tr",
      {},
      header("#", "name"),
      h("th", {}, "Trial"),
      header("Status", "status"),
      page.metrics.map((m) => header(page.objective.names.includes(m) ? `${m} (${page.objective.types[page.objective.names.indexOf(m)] === "maximize" ? "max" : "min"})` : m, m)),
      page.parameters.map((p) => header(p, `params.${p}`)),
    );
    const rows = page.items.map((t) => {
      const link = `#/trials/${encodeURIComponent(ns)}/${encodeURIComponent(t.name)}`;
      const best = t.name === page.best;
      return h(
        "tr",
        { class: best ? "best" : "", "data-trial": t.name },
        h("td", { class: "num" }, t.number),
        h("td", {}, h("a", { href: link }, t.name), best ? h("span", { class: "star", title: "best trial" }, " ★") : null),
        h("td", {}, statusBadge(t.status)),
        page.metrics.map((m) => h("td", { class: "num" }, formatValue(t.metrics[m]))),
        page.parameters.map((p) => h("td", { class: "num" }, formatValue(t.params[p]))),
      );
    });
    return h("table", { class: "grid trials" }, h("thead", {}, thead), h("tbody", {}, rows));
  };

  const pagerFor = (page: TrialsPage): HTMLElement => {
    const last = Math.max(0, Math.ceil(page.total / state.limit) - 1);
    const current = Math.floor(state.offset / state.limit);
    const go = (n: number) => {
      state.offset = Math.min(Math.max(n, 0), last) * state.limit;
      void load();
    };
    return h(
      "span",
      {},
      h("button", { class: "secondary small", disabled: current === 0, onclick: () => go(0) }, "«"),
      h("button", { class: "secondary small", disabled: current === 0, onclick: () => go(current - 1) }, "‹ Prev"),
      h("span", { class: "muted" }, ` page ${current + 1} of ${last + 1} (${page.total} trials) `),
      h("button", { class: "secondary small", disabled: current >= last, onclick: () => go(current + 1) }, "Next ›"),
      h("button", { class: "secondary small", disabled: current >= last, onclick: () => go(last) }, "»"),
    );
  };

  statusSelect.addEventListener("change", () => {
    state.status = statusSelect.value;
    state.offset = 0;
    void load();
  });
  let typing: number | undefined;
  search.addEventListener("input", () => {
    window.clearTimeout(typing);
    typing = window.setTimeout(() => {
      state.q = search.value.trim();
      state.offset = 0;
      void load();
    }, 250);
  });
  sizeSelect.addEventListener("change", () => {
    state.limit = Number(sizeSelect.value);
    state.offset = 0;
    void load();
  });
  return load;
}
