// signin.ts -- the sign-in form shown when keel runs with --auth and the
// UI has no valid token (any 401 brings the user here, then back).
import * as api from "../api";
import { h, notice } from "../dom";
import { View } from "../router";

export function signInView(_p: Record<string, string>, query: URLSearchParams): View {
  const user = h("input", { name: "username", autocomplete: "username", required: true });
  const pass = h("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const msg = h("div");
  const form = h(
    "form",
    { class: "signin" },
    h("h1", null, "Sign in to keel"),
    h("label", null, "Username", user),
    h("label", null, "Password", pass),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    msg,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.replaceChildren();
    try {
      await api.signIn(user.value, pass.value);
      const next = query.get("next");
      location.hash = next && next !== "/signin" && !next.startsWith("/signin?") ? next : "/experiments";
    } catch (e) {
      msg.append(notice("error", e instanceof Error ? e.message : String(e)));
    }
  });
  return { el: form, title: "Sign in" };
}
