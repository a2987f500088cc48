// A few helpers to build DOM nodes without a framework.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined | null>;

/** `h("a", {href: "#/"}, "text")`: an element with attributes (`on*` ones are listeners). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value as EventListener);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el: Element, ...children: (Node | string)[]): void {
  el.replaceChildren(...children);
}

/** "3m ago", "2h", "5d": an age as `kubectl get` writes it. */
export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.round(hours / 24)}d`;
}

export function formatValue(value: number | string | null | undefined): string {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "string") return value;
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? value.toExponential(4) : value.toPrecision(5);
}

/** A status word with its icon, coloured by what it means. */
export function statusBadge(status: string): HTMLElement {
  const key = status.toLowerCase().replace(/[^a-z]/g, "");
  const icons: Record<string, string> = {
    succeeded: "✔",
    running: "⟳",
    pending: "…",
    created: "…",
    failed: "✖",
    killed: "■",
    earlystopped: "⊘",
    metricsunavailable: "?",
    restarting: "⟳",
  };
  const label = status.replace(/_/g, " ");
  return h("span", { class: `badge badge-${key}`, title: label }, `${icons[key] ?? "•"} ${label}`);
}

export function errorBox(message: string): HTMLElement {
  return h("div", { class: "error", role: "alert" }, message);
}
