// main.ts -- the shell: header with the sections, the signed-in user, and
// the view the address names. Views live in src/views/, one file each, and
// register their addresses here.
import "./style.css";
import * as api from "./api";
import { h, clear, notice } from "./dom";
import { current, match, route, View, navigate } from "./router";
import { experimentsView } from "./views/experiments";
import { runsView } from "./views/runs";
import { runView } from "./views/run";
import { compareView } from "./views/compare";
import { modelsView, modelView, versionView } from "./views/models";
import { deploymentsView, deploymentView } from "./views/deployments";
import { signInView } from "./views/signin";
import { adminView } from "./views/admin";

route("/", () => {
  navigate("/experiments");
  return { el: h("div") };
});
route("/signin", signInView);
route("/experiments", experimentsView);
route("/experiments/:id", runsView);
route("/runs/:id", runView);
route("/compare", compareView);
route("/models", modelsView);
route("/models/:name", modelView);
route("/models/:name/versions/:version", versionView);
route("/deployments", deploymentsView);
route("/deployments/:name", deploymentView);
route("/admin", adminView);

const main = h("main", { id: "view" });
const userBox = h("span", { class: "user" });
const nav = h(
  "nav",
  null,
  h("a", { href: "#/experiments", class: "brand" }, "keel"),
  h("a", { href: "#/experiments", "data-section": "experiments" }, "Experiments"),
  h("a", { href: "#/models", "data-section": "models" }, "Models"),
  h("a", { href: "#/deployments", "data-section": "deployments" }, "Deployments"),
  h("a", { href: "#/admin", "data-section": "admin" }, "Governance"),
  h("span", { class: "spacer" }),
  userBox,
);
document.getElementById("app")!.append(h("header", null, nav), main);

let active: View | null = null;
let generation = 0;

function showUser(): void {
  clear(userBox);
  const who = api.currentUser();
  if (!who) return;
  userBox.append(
    who + " ",
    h(
      "button",
      {
        class: "link",
        onclick: async () => {
          await api.signOut();
          navigate("/signin");
        },
      },
      "Sign out",
    ),
  );
}

async function render(): Promise<void> {
  const mine = ++generation;
  const { path, query } = current();
  active?.destroy?.();
  active = null;
  const section = path.split("/")[1] ?? "";
  for (const a of nav.querySelectorAll<HTMLAnchorElement>("a[data-section]")) {
    const on = a.dataset.section === section || (section === "runs" && a.dataset.section === "experiments") ||
      (section === "compare" && a.dataset.section === "experiments");
    a.classList.toggle("active", on);
  }
  showUser();
  const m = match(path);
  clear(main);
  if (!m) {
    main.append(notice("error", `Nothing at ${path}.`));
    return;
  }
  main.append(h("div", { class: "loading" }, "Loading…"));
  try {
    const v = await m.view(m.params, query);
    if (mine !== generation) {
      v.destroy?.();
      return;
    }
    active = v;
    clear(main);
    main.append(v.el);
    document.title = v.title ? `${v.title} · keel` : "keel";
  } catch (e) {
    if (mine !== generation) return;
    clear(main);
    main.append(notice("error", e instanceof Error ? e.message : String(e)));
  }
}

api.setSignInHandler(() => {
  const { path } = current();
  if (path !== "/signin") navigate("/signin", { next: location.hash.slice(1) });
});

window.addEventListener("hashchange", render);
render();
