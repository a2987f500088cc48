// The token, asked once and kept for the browser tab's session (sessionStorage).
import { h } from "./dom";

const KEY = "pykatib.token";

export const getToken = (): string | null => sessionStorage.getItem(KEY);
export const setToken = (token: string): void => sessionStorage.setItem(KEY, token);
export const forgetToken = (): void => sessionStorage.removeItem(KEY);

/** The sign-in form (`refused`: the last token was); `onSignIn` runs once one is stored. */
export function loginForm(onSignIn: () => void, refused: boolean): HTMLElement {
  const input = h("input", {
    type: "password",
    name: "token",
    autocomplete: "current-password",
    placeholder: "token",
    required: true,
    "aria-label": "Token",
  });
  const form = h(
    "form",
    { class: "login card" },
    h("h1", {}, "Sign in"),
    h("p", {}, "This pykatib server needs a bearer token (a line of its --token-file)."),
    refused ? h("p", { class: "error" }, "That token was refused.") : null,
    input,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    onSignIn();
  });
  queueMicrotask(() => input.focus());
  return form;
}
