// The experiments list: status, algorithm, age, trial counts, best objective; a namespace
// filter, a search box and delete with confirmation. Live: redrawn on every change.
import { ApiError, KATIB, get, request } from "../api";
import { confirmDialog } from "../components/dialog";
import { age, clear, errorBox, formatValue, h, statusBadge } from "../dom";
import { drawLive } from "../live";
import type { ExperimentSummary } from "../types";

const ALL = "";

function hashQuery(): URLSearchParams {
  return new URLSearchParams(location.hash.split("?")[1] ?? "");
}

async function namespaces(signal: AbortSignal): Promise<string[] | null> {
  try {
    const list = await get<{ items: { metadata: { name: string } }[] }>("/api/v1/namespaces", signal);
    return list.items.map((n) => n.metadata.name);
  } catch (error) {
    if (error instanceof ApiError && error.code === 403) return null; // a token scoped to some
    throw error;
  }
}

export async function experimentsPage(root: HTMLElement, _args: string[], signal: AbortSignal): Promise<void> {
  const query = hashQuery();
  let namespace = query.get("ns") ?? ALL;
  let search = query.get("q") ?? "";
  const known = await namespaces(signal);
  if (known === null && namespace === ALL) namespace = "default";

  const nsControl =
    known === null
      ? h("input", { value: namespace, "aria-label": "Namespace", class: "ns", placeholder: "namespace" })
      : h(
          "select",
          { "aria-label": "Namespace", class: "ns" },
          h("option", { value: ALL }, "All namespaces"),
          known.map((n) => h("option", { value: n, selected: n === namespace }, n)),
        );
  const searchBox = h("input", { type: "search", placeholder: "Search experiments", value: search, "aria-label": "Search" });
  const body = h("div", { class: "list-body" });
  root.append(
    h(
      "div",
      { class: "toolbar" },
      h("h1", {}, "Experiments"),
      nsControl,
      searchBox,
      h("a", { class: "button primary", href: "#/create" }, "New experiment"),
    ),
    body,
  );

  let items: ExperimentSummary[] = [];
  const draw = () => clear(body, table(items.filter((e) => e.name.includes(search)), reload));
  const reload = async () => {
    const path = namespace === ALL ? "/ui/api/experiments" : `/ui/api/namespaces/${encodeURIComponent(namespace)}/experiments`;
    try {
      items = (await get<{ items: ExperimentSummary[] }>(path, signal)).items;
      draw();
    } catch (error) {
      if (!signal.aborted) clear(body, errorBox(error instanceof Error ? error.message : String(error)));
    }
  };
  const hashFor = () => {
    const q = new URLSearchParams();
    if (namespace) q.set("ns", namespace);
    if (search) q.set("q", search);
    return `#/${q.size ? "?" + q : ""}`;
  };
  // Another namespace is another page (its own change stream); a search only filters this one.
  nsControl.addEventListener("change", () => {
    namespace = (nsControl as HTMLInputElement).value.trim();
    location.hash = hashFor();
  });
  searchBox.addEventListener("input", () => {
    search = searchBox.value.trim();
    history.replaceState(null, "", hashFor());
    draw();
  });
  await drawLive(namespace === ALL ? null : namespace, reload, signal);
}

function counts(e: ExperimentSummary): HTMLElement {
  const t = e.trials;
  return h(
    "span",
    { class: "counts" },
    h("span", { class: "c-succeeded", title: "succeeded" }, `✔ ${t.succeeded}`),
    h("span", { class: "c-running", title: "running" }, `⟳ ${t.running}`),
    h("span", { class: "c-failed", title: "failed" }, `✖ ${t.failed}`),
    h("span", { class: "c-earlystopped", title: "early stopped" }, `⊘ ${t.earlyStopped}`),
  );
}

function table(items: ExperimentSummary[], reload: () => Promise<void>): HTMLElement {
  if (items.length === 0) {
    return h("p", { class: "empty" }, "No experiments here yet. ", h("a", { href: "#/create" }, "Create one."));
  }
  const rows = items.map((e) => {
    const link = `#/experiments/${encodeURIComponent(e.namespace)}/${encodeURIComponent(e.name)}`;
    const remove = h("button", { class: "danger small", title: `Delete ${e.name}` }, "Delete");
    remove.addEventListener("click", async () => {
      const ok = await confirmDialog(
        `Delete experiment ${e.name}?`,
        `Its ${e.trials.total} trials, their observations and events are deleted too (namespace ${e.namespace}).`,
        "Delete",
      );
      if (!ok) return;
      try {
        await request(`${KATIB}/namespaces/${encodeURIComponent(e.namespace)}/experiments/${encodeURIComponent(e.name)}`, {
          method: "DELETE",
        });
      } catch (error) {
        alert(`Could not delete ${e.name}: ${error instanceof Error ? error.message : error}`);
      }
      await reload();
    });
    return h(
      "tr",
      { "data-experiment": e.name },
      h("td", {}, h("a", { href: link }, e.name)),
      h("td", {}, e.namespace),
      h("td", {}, statusBadge(e.status)),
      h("td", {}, e.algorithm ?? ""),
      h("td", { title: e.created ?? "" }, age(e.created)),
      h("td", {}, counts(e), h("span", { class: "muted" }, ` of ${e.maxTrialCount ?? "∞"}`)),
      h(
        "td",
        { class: "num" },
        formatValue(e.bestValue),
        h("span", { class: "muted" }, e.bestValue === null ? "" : ` ${e.objective.metric} (${e.objective.type === "maximize" ? "max" : "min"})`),
      ),
      h("td", {}, remove),
    );
  });
  return h(
    "table",
    { class: "grid experiments" },
    h(
      "thead",
      {},
      h("tr", {}, ["Name", "Namespace", "Status", "Algorithm", "Age", "Trials", "Best objective", ""].map((c) => h("th", {}, c))),
    ),
    h("tbody", {}, rows),
  );
}
