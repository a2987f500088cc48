// The single-page app: hash routes to pages; a sign-in form whenever the server says 401.
import "./style.css";
import { ApiError, get, whenUnauthorized } from "./api";
import { forgetToken, getToken, loginForm } from "./auth";
import { clear, errorBox, h } from "./dom";

/** A page draws itself into `root`; `signal` aborts when the user leaves it. */
export type Page = (root: HTMLElement, args: string[], signal: AbortSignal) => Promise<void> | void;

/** A route: its path, its page's module, and whether the page shows nothing before a read
 * that needs the token has answered (that read is then the token's check: see start). */
type Route = [RegExp, () => Promise<Page>, { checksToken?: boolean }?];

const routes: Route[] = [
  [/^\/?$/, () => import("./pages/experiments").then((m) => m.experimentsPage), { checksToken: true }],
  [/^\/create$/, () => import("./pages/create").then((m) => m.createPage)],
  [/^\/experiments\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/, () => import("./pages/experiment").then((m) => m.experimentPage), { checksToken: true }],
  [/^\/trials\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/, () => import("./pages/trial").then((m) => m.trialPage)],
];

// An experiment's plot tab (the tabs whose data is /columns, /importance or /intermediate).
const CHART_TAB = /^\/experiments\/[^/]+\/[^/]+\/(history|parallel|importance|intermediate|slice|contour|pareto)$/;

const app = document.getElementById("app") as HTMLElement;
const logout = document.getElementById("logout") as HTMLButtonElement;
let current: AbortController | null = null;
let refused = false;

function showLogin(): void {
  current?.abort();
  current = null;
  refused = getToken() !== null;
  forgetToken();
  logout.hidden = true;
  clear(app, loginForm(() => void start(), refused));
}

const currentPath = () => decodeURIComponent(location.hash.replace(/^#/, "").split("?")[0]);

/** The page's module for `path` (loading it), the route's match and whether the page checks
 * the token itself; null when no route matches. */
function pageFor(path: string): [Promise<Page>, RegExpExecArray, boolean] | null {
  for (const [pattern, load, options] of routes) {
    const match = pattern.exec(path);
    if (match) return [load(), match, options?.checksToken ?? false];
  }
  return null;
}

async function route(): Promise<void> {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const path = currentPath();
  const found = pageFor(path);
  if (found) {
    const [loading, match] = found;
    const page = await loading;
    if (controller.signal.aborted) return;
    const root = h("div", { class: "page" });
    clear(app, root);
    try {
      await page(root, match.slice(1).filter((a) => a !== undefined), controller.signal);
    } catch (error) {
      if (controller.signal.aborted || (error instanceof ApiError && error.code === 401)) return;
      root.append(errorBox(error instanceof Error ? error.message : String(error)));
    }
    return;
  }
  clear(app, errorBox(`No page at ${path}.`), h("p", {}, h("a", { href: "#/" }, "Back to the experiments")));
}

/** Checks the token (the server may need none) before anything is drawn; the page's module
 * loads meanwhile. A page that shows nothing before its first read checks the token with that
 * read (a 401 brings the sign-in form): one round trip less before its data. */
async function start(): Promise<void> {
  const path = currentPath();
  const found = pageFor(path);
  found?.[0].catch(() => undefined);
  if (CHART_TAB.test(path)) void import("./charts").catch(() => undefined); // ECharts: the longest load
  if (!found?.[2]) {
    try {
      await get("/apis");
    } catch (error) {
      if (error instanceof ApiError && error.code === 401) return; // showLogin ran
      clear(app, errorBox(error instanceof Error ? error.message : String(error)));
      return;
    }
  }
  logout.hidden = getToken() === null;
  await route();
}

whenUnauthorized(showLogin);
logout.addEventListener("click", () => {
  forgetToken();
  refused = false;
  logout.hidden = true;
  clear(app, loginForm(() => void start(), false));
});
window.addEventListener("hashchange", () => void route());
void start();
