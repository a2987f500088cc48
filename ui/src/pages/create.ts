// Create an experiment: a YAML editor prefilled from an example, POSTed to the Kubernetes-
// style API; the server's validation errors (a 422 Status's causes) shown on their lines.
import { parse, YAMLParseError } from "yaml";
import { ApiError, KATIB, request } from "../api";
import { experimentForm } from "../components/experiment-form";
import { type LineError, YamlEditor } from "../components/yaml-editor";
import { clear, errorBox, h } from "../dom";
import digits from "../../../examples/digits-mlp/experiment.yaml?raw";
import quadratic from "../examples/quadratic.yaml?raw";
import type { KubeObject } from "../types";
import { lineOf } from "../yaml-paths";

const EXAMPLES: Record<string, string> = {
  "quadratic (needs only Python)": quadratic,
  "digits-mlp (examples/digits-mlp: scikit-learn, run from a checkout)": digits,
};

export function createPage(root: HTMLElement): void {
  const names = Object.keys(EXAMPLES);
  const select = h("select", { "aria-label": "Example" }, names.map((n) => h("option", { value: n }, n)));
  const submit = h("button", { class: "primary", type: "button", "data-action": "create" }, "Create");
  const messages = h("div", { class: "messages", "aria-live": "polite" });
  const editorHost = h("div", { class: "editor" });
  root.append(
    h("div", { class: "toolbar" }, h("h1", {}, "New experiment"), h("label", {}, "Start from ", select), submit),
    messages,
  );
  const editor = new YamlEditor(editorHost, EXAMPLES[names[0]]);
  root.append(
    experimentForm((text) => {
      editor.text = text;
      editor.showErrors([]);
      clear(messages);
    }),
    editorHost,
  );
  select.addEventListener("change", () => {
    editor.text = EXAMPLES[select.value];
    editor.showErrors([]);
    clear(messages);
  });

  const show = (errors: LineError[], title: string) => {
    editor.showErrors(errors);
    if (errors.length) editor.goTo(errors[0].line);
    clear(
      messages,
      errorBox(title),
      h(
        "ul",
        { class: "field-errors" },
        errors.map((e) => {
          const item = h("li", { "data-line": e.line }, h("button", { class: "link" }, `line ${e.line}`), `: ${e.message}`);
          item.querySelector("button")?.addEventListener("click", () => editor.goTo(e.line));
          return item;
        }),
      ),
    );
  };

  submit.addEventListener("click", async () => {
    const text = editor.text;
    let body: KubeObject;
    try {
      body = parse(text) as KubeObject;
    } catch (error) {
      if (error instanceof YAMLParseError) {
        show([{ line: error.linePos?.[0].line ?? 1, message: error.message.split("\n")[0] }], "This is not valid YAML.");
        return;
      }
      throw error;
    }
    if (!body || typeof body !== "object" || !body.metadata?.name) {
      show([{ line: 1, message: "an Experiment needs metadata.name" }], "This is not an Experiment.");
      return;
    }
    const ns = body.metadata.namespace ?? "default";
    submit.disabled = true;
    try {
      await request(`${KATIB}/namespaces/${encodeURIComponent(ns)}/experiments`, { method: "POST", body });
      location.hash = `#/experiments/${encodeURIComponent(ns)}/${encodeURIComponent(body.metadata.name)}`;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const causes = error.status?.details?.causes ?? [];
      const errors = causes.map((c) => ({
        line: c.field ? lineOf(text, c.field) : 1,
        message: c.field ? `${c.field}: ${c.message ?? ""}` : (c.message ?? ""),
      }));
      show(errors.length ? errors : [{ line: 1, message: error.message }], `The server refused it (${error.code} ${error.status?.reason ?? ""}).`);
    } finally {
      submit.disabled = false;
    }
  });
}
