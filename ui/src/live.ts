// Live pages: the server streams a line each time an experiment or trial changes
// (/ui/api/.../changes); a page redraws on each, at most once per REDRAW_MS.
import { streamLines } from "./api";

const REDRAW_MS = 400;
const RETRY_MS = 2000;

/** Calls `onChange` after each change in `namespace` (every namespace when null) until
 * `signal` aborts; reconnects when the stream breaks. */
export function onChanges(namespace: string | null, onChange: () => void, signal: AbortSignal): void {
  const path = namespace === null ? "/ui/api/changes" : `/ui/api/namespaces/${encodeURIComponent(namespace)}/changes`;
  let timer: number | undefined;
  // The stream's first line is the state when it opened, which may be newer than the one the
  // page was drawn from: it redraws too.
  const changed = () => {
    if (timer === undefined) {
      timer = window.setTimeout(() => {
        timer = undefined;
        if (!signal.aborted) onChange();
      }, REDRAW_MS);
    }
  };
  const connect = () => {
    streamLines(path, changed, signal).then(
      () => !signal.aborted && window.setTimeout(connect, RETRY_MS),
      () => !signal.aborted && window.setTimeout(connect, RETRY_MS),
    );
  };
  connect();
  signal.addEventListener("abort", () => window.clearTimeout(timer));
}
