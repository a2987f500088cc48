// A modal confirmation (the <dialog> element): resolves true when confirmed.
import { h } from "../dom";

export function confirmDialog(title: string, message: string, action: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "confirm" },
      h(
        "form",
        { method: "dialog" },
        h("h2", {}, title),
        h("p", {}, message),
        h(
          "div",
          { class: "actions" },
          h("button", { value: "cancel", class: "secondary" }, "Cancel"),
          h("button", { value: "confirm", class: "danger" }, action),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "confirm");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Asks for a value (e.g. a new maxTrialCount); null when cancelled. */
export function promptDialog(title: string, label: string, value: string): Promise<string | null> {
  return new Promise((resolve) => {
    const input = h("input", { value, name: "value", "aria-label": label, required: true });
    const dialog = h(
      "dialog",
      { class: "confirm" },
      h(
        "form",
        { method: "dialog" },
        h("h2", {}, title),
        h("label", {}, label, input),
        h(
          "div",
          { class: "actions" },
          h("button", { value: "cancel", class: "secondary", formnovalidate: true }, "Cancel"),
          h("button", { value: "save", class: "primary" }, "Save"),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "save" ? input.value.trim() : null);
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
