// An object shown as YAML (read-only), as `kubectl get -o yaml` prints it.
import { stringify } from "yaml";
import { h } from "../dom";

export function yamlView(obj: unknown): HTMLElement {
  return h("pre", { class: "yaml" }, stringify(obj, { lineWidth: 0 }));
}
