// experiments.ts -- the experiments list: search by name, create, rename,
// delete. Paged by the server (experiments/search), 100 at a time.
import * as api from "../api";
import { h, clear, fmtTime, notice } from "../dom";
import { View, replaceQuery, href, navigate, seg } from "../router";
import { nameSearchFilter } from "../filter";

interface Experiment {
  experiment_id: string;
  name: string;
  lifecycle_stage: string;
  last_update_time?: string;
  creation_time?: string;
  tags?: { key: string; value: string }[];
}

const PAGE = 100;

export function experimentsView(_p: Record<string, string>, query: URLSearchParams): View {
  const ctl = new AbortController();
  const search = h("input", {
    type: "search",
    placeholder: "Search experiments by name",
    value: query.get("q") ?? "",
    "aria-label": "Search experiments",
  });
  const showDeleted = h("input", { type: "checkbox" });
  showDeleted.checked = query.get("deleted") === "1";
  const body = h("tbody");
  const status = h("div", { class: "status" });
  const more = h("button", { hidden: true }, "Load more");
  let token: string | undefined;

  const table = h(
    "table",
    { class: "grid", "data-testid": "experiments" },
    h("thead", null, h("tr", null, h("th", null, "Name"), h("th", null, "ID"),
      h("th", null, "Last updated"), h("th", null, ""))),
    body,
  );

  async function load(reset: boolean): Promise<void> {
    if (reset) {
      token = undefined;
      clear(body);
    }
    status.replaceChildren();
    try {
      const r = await api.get<{ experiments?: Experiment[]; next_page_token?: string }>(
        "mlflow/experiments/search",
        {
          max_results: PAGE,
          filter: nameSearchFilter(search.value.trim()),
          view_type: showDeleted.checked ? "DELETED_ONLY" : "ACTIVE_ONLY",
          order_by: "last_update_time DESC",
          page_token: token,
        },
        ctl.signal,
      );
      for (const e of r.experiments ?? []) body.append(row(e));
      token = r.next_page_token;
      more.hidden = !token;
      if (!body.firstChild) status.append(notice("info", "No experiments match."));
    } catch (e) {
      if (!ctl.signal.aborted) status.append(notice("error", (e as Error).message));
    }
  }

  function row(e: Experiment): HTMLTableRowElement {
    const nameCell = h("td", null, h("a", { href: href("/experiments/" + seg(e.experiment_id)) }, e.name));
    const actions = h("td", { class: "actions" });
    const tr = h("tr", { "data-experiment-id": e.experiment_id }, nameCell, h("td", null, e.experiment_id),
      h("td", null, fmtTime(e.last_update_time ?? e.creation_time)), actions);
    if (e.lifecycle_stage === "deleted") {
      actions.append(h("button", {
        onclick: async () => {
          await act(() => api.post("mlflow/experiments/restore", { experiment_id: e.experiment_id }));
        },
      }, "Restore"));
      return tr;
    }
    actions.append(
      h("button", {
        onclick: async () => {
          const name = prompt("New name for " + e.name, e.name);
          if (name && name !== e.name)
            await act(() => api.post("mlflow/experiments/update", { experiment_id: e.experiment_id, new_name: name }));
        },
      }, "Rename"),
      h("button", {
        class: "danger",
        onclick: async () => {
          if (confirm(`Delete experiment "${e.name}"? Its runs are deleted with it (restorable until keel gc).`))
            await act(() => api.post("mlflow/experiments/delete", { experiment_id: e.experiment_id }));
        },
      }, "Delete"),
    );
    return tr;
  }

  async function act(fn: () => Promise<unknown>): Promise<void> {
    status.replaceChildren();
    try {
      await fn();
      await load(true);
    } catch (e) {
      status.append(notice("error", (e as Error).message));
    }
  }

  const newName = h("input", { placeholder: "New experiment name", "aria-label": "New experiment name" });
  const create = h("form", { class: "inline" }, newName, h("button", { type: "submit", class: "primary" }, "Create"));
  create.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = newName.value.trim();
    if (!name) return;
    status.replaceChildren();
    try {
      const r = await api.post<{ experiment_id: string }>("mlflow/experiments/create", { name });
      navigate("/experiments/" + seg(r.experiment_id));
    } catch (e) {
      status.append(notice("error", (e as Error).message));
    }
  });

  let timer = 0;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => {
      replaceQuery({ q: search.value.trim() });
      load(true);
    }, 200);
  });
  showDeleted.addEventListener("change", () => {
    replaceQuery({ deleted: showDeleted.checked ? "1" : "" });
    load(true);
  });
  more.addEventListener("click", () => load(false));
  load(true);

  const el = h(
    "section",
    { class: "page" },
    h("div", { class: "toolbar" }, h("h1", null, "Experiments"), h("span", { class: "spacer" }), create),
    h("div", { class: "toolbar" }, search, h("label", { class: "check" }, showDeleted, "Deleted")),
    status,
    table,
    more,
  );
  return { el, title: "Experiments", destroy: () => { ctl.abort(); clearTimeout(timer); } };
}
