// From a field path in a Kubernetes Status cause ("spec.parameters[1].feasibleSpace.max") to
// the line of the YAML document that holds it (the nearest ancestor that is there).
import { isMap, isSeq, LineCounter, parseDocument, type Document } from "yaml";

export function fieldPath(field: string): (string | number)[] {
  const parts: (string | number)[] = [];
  for (const match of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (match[2] !== undefined) parts.push(Number(match[2]));
    else parts.push(match[1]);
  }
  return parts;
}

/** The 1-based line of `field` in `text` (or of its nearest ancestor present; 1 if none). */
export function lineOf(text: string, field: string): number {
  const counter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter: counter });
  let node: unknown = doc.contents;
  let offset = 0;
  for (const key of fieldPath(field)) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      if (!pair) break;
      offset = (pair.key as { range?: [number, number, number] }).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof key === "number" && key < node.items.length) {
      node = node.items[key];
      offset = (node as { range?: [number, number, number] }).range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return counter.linePos(offset).line;
}
