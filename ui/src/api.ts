// Every call to the server: the token (when the server wants one) goes with each.
import { getToken } from "./auth";

export const KATIB = "/apis/kubeflow.org/v1beta1";

/** A Kubernetes Status answer (or a failure to reach the server), as an exception. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly status?: KubeStatus,
  ) {
    super(message);
  }
}

export interface KubeStatus {
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: { field?: string; message?: string; reason?: string }[] };
}

type Unauthorized = () => void;
let onUnauthorized: Unauthorized = () => {};
export function whenUnauthorized(handler: Unauthorized): void {
  onUnauthorized = handler;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const token = getToken();
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

/** `fetch`, with a failure to reach the server (not an abort) said as such: the browser's own
 * words ("Failed to fetch") don't tell the user what to do. */
async function reach(path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(path, init);
  } catch (error) {
    if (init.signal?.aborted) throw error;
    const why = error instanceof Error ? error.message : String(error);
    throw new ApiError(`The server does not answer (${why}): is \`pykatib server\` still running?`, 0);
  }
}

export async function request<T>(
  path: string,
  init: { method?: string; body?: unknown; contentType?: string; signal?: AbortSignal } = {},
): Promise<T> {
  const extra: Record<string, string> = { Accept: "application/json" };
  if (init.body !== undefined) extra["Content-Type"] = init.contentType ?? "application/json";
  const response = await reach(path, {
    method: init.method ?? "GET",
    headers: headers(extra),
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: init.signal,
  });
  if (response.status === 401) {
    onUnauthorized();
    throw new ApiError("this server needs a token: sign in", 401);
  }
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // not JSON (a proxy's error page): the status line says enough
  }
  if (!response.ok) {
    const status = data as KubeStatus | null;
    throw new ApiError(status?.message ?? `${response.status} ${response.statusText}`, response.status, status ?? undefined);
  }
  return data as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => request<T>(path, { signal });

/** Reads a streamed response line by line (a watch, a log with follow) until it ends or
 * `signal` aborts; `onLine` gets each complete line. */
export async function streamLines(
  path: string,
  onLine: (line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const response = await reach(path, { headers: headers(), signal });
  if (response.status === 401) onUnauthorized();
  if (!response.ok || !response.body) throw new ApiError(`${path}: ${response.status}`, response.status);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    lines.forEach(onLine);
  }
  if (pending) onLine(pending);
}

/** The raw text of a response (logs). */
export async function getText(path: string, signal?: AbortSignal): Promise<string> {
  const response = await reach(path, { headers: headers(), signal });
  if (response.status === 401) onUnauthorized();
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (JSON.parse(await response.text()) as KubeStatus).message ?? message;
    } catch {
      /* not a Status */
    }
    throw new ApiError(message, response.status);
  }
  return response.text();
}

export const experimentPath = (ns: string, name: string) =>
  `${KATIB}/namespaces/${encodeURIComponent(ns)}/experiments/${encodeURIComponent(name)}`;
export const uiExperimentPath = (ns: string, name: string) =>
  `/ui/api/namespaces/${encodeURIComponent(ns)}/experiments/${encodeURIComponent(name)}`;
