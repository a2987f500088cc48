// Live pages: the server streams a line each time an experiment or trial of a namespace
// changes (/ui/api/.../changes). A page draws on the stream's first line (the state when it
// connected, so no change between drawing and connecting is missed) and redraws on each later
// one, at most once per REDRAW_MS.
import { streamLines } from "./api";

const REDRAW_MS = 400;
const RETRY_MS = 2000;

/** Draws now and after each change in `namespace` (every namespace when null) until `signal`
 * aborts, reconnecting when the stream breaks; resolves (or rejects) with the first draw. */
export function drawLive(namespace: string | null, draw: () => Promise<void>, signal: AbortSignal): Promise<void> {
  const path = namespace === null ? "/ui/api/changes" : `/ui/api/namespaces/${encodeURIComponent(namespace)}/changes`;
  return new Promise((resolve, reject) => {
    let first = true;
    let timer: number | undefined;
    const firstDraw = () => {
      first = false;
      draw().then(resolve, reject);
    };
    const changed = () => {
      if (first) return firstDraw();
      if (timer !== undefined) return;
      timer = window.setTimeout(() => {
        timer = undefined;
        if (!signal.aborted) draw().catch(() => undefined);
      }, REDRAW_MS);
    };
    const retry = () => {
      if (first) firstDraw(); // no stream: draw all the same
      if (!signal.aborted) window.setTimeout(connect, RETRY_MS);
    };
    const connect = () => void streamLines(path, changed, signal).then(retry, retry);
    signal.addEventListener("abort", () => window.clearTimeout(timer));
    connect();
  });
}
