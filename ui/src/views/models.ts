// models.ts -- the model registry: registered models (searched by name and
// paged by the server), one model (description, tags, aliases, their
// history from keel's audit log, its versions), and one version (stage
// transitions, aliases, tags, description, source run, download URI). Every
// change goes through MLflow's registry API and the page shows the state
// keel answers afterwards.
import * as api from "../api";
import { h, clear, fmtTime, notice } from "../dom";
import { View, replaceQuery, href, navigate, seg } from "../router";
import { nameEqualsFilter, nameSearchFilter } from "../filter";

interface Tag {
  key: string;
  value: string;
}

interface ModelVersion {
  name: string;
  version: string;
  creation_timestamp?: number;
  last_updated_timestamp?: number;
  user_id?: string;
  current_stage?: string;
  description?: string;
  source?: string;
  run_id?: string;
  status?: string;
  status_message?: string;
  tags?: Tag[];
  run_link?: string;
  aliases?: string[];
}

interface RegisteredModel {
  name: string;
  creation_timestamp?: number;
  last_updated_timestamp?: number;
  description?: string;
  latest_versions?: ModelVersion[];
  tags?: Tag[];
  aliases?: { alias: string; version: string }[];
}

interface HistoryEvent {
  seq: number;
  time: number;
  principal: string;
  event: string;
  alias?: string;
  version?: string;
  stage?: string;
  from?: string;
  to?: string;
}

const PAGE = 100;
const VERSION_PAGE = 50;
const STAGES = ["None", "Staging", "Production", "Archived"];

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

// ---- shared pieces ---------------------------------------------------------

const modelHref = (name: string) => href("/models/" + seg(name));
const versionHref = (name: string, v: string) => href("/models/" + seg(name) + "/versions/" + seg(v));

function stageBadge(stage: string | undefined): HTMLElement {
  const s = stage || "None";
  const kind = s === "Production" ? " ok" : s === "Staging" ? " warn" : s === "Archived" ? " muted" : "";
  return h("span", { class: "badge stage" + kind, "data-stage": s }, s);
}

function statusBadge(status: string | undefined): HTMLElement {
  const s = status || "READY";
  const kind = s === "READY" ? " ok" : s.startsWith("FAILED") ? " bad" : " warn";
  return h("span", { class: "badge" + kind }, s);
}

function aliasBadge(model: string, alias: string, version: string): HTMLElement {
  return h(
    "a",
    { class: "badge alias", href: versionHref(model, version), "data-alias": alias, "data-version": version },
    `${alias} → v${version}`,
  );
}

/** Where a version came from: the run's page when the run is known. */
function runLink(mv: ModelVersion): Node {
  if (!mv.run_id) return document.createTextNode("");
  return h("a", { href: href("/runs/" + seg(mv.run_id)), class: "run-link", "data-run-id": mv.run_id }, mv.run_id);
}

function excerpt(text: string | undefined, n: number): string {
  const t = (text ?? "").replace(/\s+/g, " ").trim();
  return t.length > n ? t.slice(0, n - 1) + "…" : t;
}

/** Runs `fn`, reports a refusal in `status`, and says whether it went through. */
async function attempt(status: HTMLElement, fn: () => Promise<unknown>): Promise<boolean> {
  status.replaceChildren();
  try {
    await fn();
    return true;
  } catch (e) {
    status.append(notice("error", message(e)));
    return false;
  }
}

/** A description shown as text, edited in place; `save` stores it. */
function descriptionEditor(text: string, save: (t: string) => Promise<void>): HTMLElement {
  const box = h("div", { class: "description-box", "data-testid": "description" });
  const show = () => {
    clear(box);
    box.append(
      text ? h("p", { class: "description" }, text) : h("p", { class: "muted" }, "No description."),
      h("button", { onclick: edit }, text ? "Edit description" : "Add description"),
    );
  };
  const edit = () => {
    clear(box);
    const area = h("textarea", { rows: 5, class: "description-input", "aria-label": "Description" });
    area.value = text;
    const form = h(
      "form",
      { class: "stack" },
      area,
      h("div", { class: "toolbar" },
        h("button", { type: "submit", class: "primary" }, "Save"),
        h("button", { type: "button", onclick: show }, "Cancel")),
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      await save(area.value);
    });
    box.append(form);
    area.focus();
  };
  show();
  return box;
}

/** Tags as a table with delete buttons, and a form that sets one. */
function tagsEditor(
  tags: Tag[],
  set: (key: string, value: string) => Promise<void>,
  remove: (key: string) => Promise<void>,
): HTMLElement {
  const body = h("tbody");
  for (const t of [...tags].sort((a, b) => a.key.localeCompare(b.key))) {
    body.append(
      h("tr", { "data-tag": t.key },
        h("td", null, t.key),
        h("td", { class: "wrap", title: t.value }, t.value),
        h("td", { class: "actions" },
          h("button", {
            class: "danger",
            onclick: () => {
              if (confirm(`Delete tag "${t.key}"?`)) void remove(t.key);
            },
          }, "Delete"))),
    );
  }
  const key = h("input", { placeholder: "Key", "aria-label": "Tag key", required: true });
  const value = h("input", { placeholder: "Value", "aria-label": "Tag value", class: "wide" });
  const form = h("form", { class: "inline" }, key, value, h("button", { type: "submit" }, "Set tag"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const k = key.value.trim();
    if (k) await set(k, value.value);
  });
  return h(
    "div",
    { "data-testid": "tags" },
    tags.length
      ? h("table", { class: "grid compact" },
          h("thead", null, h("tr", null, h("th", null, "Key"), h("th", null, "Value"), h("th", null, ""))), body)
      : h("p", { class: "muted" }, "No tags."),
    form,
  );
}

// ---- models list -------------------------------------------------------------

export function modelsView(_p: Record<string, string>, query: URLSearchParams): View {
  const ctl = new AbortController();
  const search = h("input", {
    type: "search",
    placeholder: "Search models by name",
    value: query.get("q") ?? "",
    "aria-label": "Search models",
  });
  const body = h("tbody");
  const status = h("div", { class: "status" });
  const more = h("button", { hidden: true }, "Load more");
  let token: string | undefined;
  let generation = 0;

  const table = h(
    "table",
    { class: "grid", "data-testid": "models" },
    h("thead", null, h("tr", null, h("th", null, "Name"), h("th", null, "Latest versions"),
      h("th", null, "Aliases"), h("th", null, "Last updated"), h("th", null, "Description"))),
    body,
  );

  async function load(reset: boolean): Promise<void> {
    const mine = reset ? ++generation : generation;
    if (reset) token = undefined;
    status.replaceChildren();
    more.disabled = true;
    try {
      const r = await api.get<{ registered_models?: RegisteredModel[]; next_page_token?: string }>(
        "mlflow/registered-models/search",
        {
          max_results: PAGE,
          filter: nameSearchFilter(search.value.trim()),
          order_by: "name ASC",
          page_token: token,
        },
        ctl.signal,
      );
      if (mine !== generation) return; // a newer search replaced this one
      if (reset) clear(body);
      for (const m of r.registered_models ?? []) body.append(row(m));
      token = r.next_page_token;
      more.hidden = !token;
      if (!body.firstChild)
        status.append(notice("info", search.value.trim() ? "No models match." : "No registered models yet."));
    } catch (e) {
      if (!ctl.signal.aborted && mine === generation) status.append(notice("error", message(e)));
    } finally {
      more.disabled = false;
    }
  }

  function row(m: RegisteredModel): HTMLTableRowElement {
    const latest = [...(m.latest_versions ?? [])].sort((a, b) => Number(b.version) - Number(a.version));
    return h(
      "tr",
      { "data-model-name": m.name },
      h("td", null, h("a", { href: modelHref(m.name) }, m.name)),
      h("td", null, latest.map((v) => h("a", { class: "version-chip", href: versionHref(m.name, v.version) },
        `v${v.version}`, v.current_stage && v.current_stage !== "None" ? ` (${v.current_stage})` : ""))),
      h("td", null, (m.aliases ?? []).map((a) => aliasBadge(m.name, a.alias, a.version))),
      h("td", null, fmtTime(m.last_updated_timestamp ?? m.creation_timestamp)),
      h("td", { class: "muted", title: m.description ?? "" }, excerpt(m.description, 80)),
    );
  }

  const newName = h("input", { placeholder: "New model name", "aria-label": "New model name" });
  const create = h("form", { class: "inline" }, newName, h("button", { type: "submit", class: "primary" }, "Create model"));
  create.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = newName.value.trim();
    if (!name) return;
    if (await attempt(status, () => api.post("mlflow/registered-models/create", { name })))
      navigate("/models/" + seg(name));
  });

  let timer = 0;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => {
      replaceQuery({ q: search.value.trim() });
      void load(true);
    }, 200);
  });
  more.addEventListener("click", () => void load(false));
  void load(true);

  const el = h(
    "section",
    { class: "page" },
    h("div", { class: "toolbar" }, h("h1", null, "Models"), h("span", { class: "spacer" }), create),
    h("div", { class: "toolbar" }, search),
    status,
    table,
    more,
  );
  return { el, title: "Models", destroy: () => { ctl.abort(); clearTimeout(timer); } };
}

// ---- one model ---------------------------------------------------------------

interface AliasMove {
  time: number;
  version: string | null; // null: the alias stopped naming a version
  why: string;
  principal: string;
}

/** Every alias's moves, replayed from the model's registry events (oldest first). */
export function aliasMoves(events: HistoryEvent[]): Map<string, AliasMove[]> {
  const moves = new Map<string, AliasMove[]>();
  const current = new Map<string, string | null>();
  const push = (alias: string, m: AliasMove) => {
    if (!moves.has(alias)) moves.set(alias, []);
    moves.get(alias)!.push(m);
    current.set(alias, m.version);
  };
  for (const e of events) {
    if (e.event === "alias_set" && e.alias && e.version) {
      push(e.alias, { time: e.time, version: e.version, why: "set", principal: e.principal });
    } else if (e.event === "alias_deleted" && e.alias) {
      push(e.alias, { time: e.time, version: null, why: "alias deleted", principal: e.principal });
    } else if (e.event === "version_deleted" && e.version) {
      for (const [alias, v] of current)
        if (v === e.version)
          push(alias, { time: e.time, version: null, why: `version ${e.version} deleted`, principal: e.principal });
    } else if (e.event === "model_deleted") {
      for (const [alias, v] of current)
        if (v) push(alias, { time: e.time, version: null, why: "model deleted", principal: e.principal });
    }
  }
  return moves;
}

async function fetchModel(name: string, signal?: AbortSignal): Promise<RegisteredModel> {
  const r = await api.get<{ registered_model: RegisteredModel }>("mlflow/registered-models/get", { name }, signal);
  return r.registered_model;
}

export async function modelView(p: Record<string, string>): Promise<View> {
  const ctl = new AbortController();
  const name = p.name;
  let model = await fetchModel(name, ctl.signal);

  const status = h("div", { class: "status" });
  const props = h("div");
  const describe = h("div");
  const tagsBox = h("div");
  const aliasesBox = h("div", { "data-testid": "aliases" });
  const historyBox = h("div", { "data-testid": "alias-history" });
  const versionsBody = h("tbody");
  const versionsStatus = h("div");
  const more = h("button", { hidden: true }, "Load more versions");
  let token: string | undefined;
  let generation = 0;

  const aliasesOf = (version: string) =>
    (model.aliases ?? []).filter((a) => a.version === version).map((a) => a.alias).sort();

  function render(): void {
    clear(props);
    props.append(
      h("dl", { class: "props" },
        h("dt", null, "Created"), h("dd", null, fmtTime(model.creation_timestamp)),
        h("dt", null, "Last updated"), h("dd", null, fmtTime(model.last_updated_timestamp)),
        h("dt", null, "Latest versions"),
        h("dd", null, [...(model.latest_versions ?? [])]
          .sort((a, b) => Number(b.version) - Number(a.version))
          .map((v) => h("a", { class: "version-chip", href: versionHref(name, v.version) },
            `v${v.version} `, stageBadge(v.current_stage))))),
    );
    clear(describe);
    describe.append(descriptionEditor(model.description ?? "", async (text) => {
      if (await attempt(status, () => api.send("PATCH", "mlflow/registered-models/update", { name, description: text })))
        await refresh();
    }));
    clear(tagsBox);
    tagsBox.append(tagsEditor(
      model.tags ?? [],
      async (key, value) => {
        if (await attempt(status, () => api.post("mlflow/registered-models/set-tag", { name, key, value })))
          await refresh();
      },
      async (key) => {
        if (await attempt(status, () => api.send("DELETE", "mlflow/registered-models/delete-tag", { name, key })))
          await refresh();
      },
    ));
    clear(aliasesBox);
    const aliases = [...(model.aliases ?? [])].sort((a, b) => a.alias.localeCompare(b.alias));
    aliasesBox.append(
      aliases.length
        ? h("div", { class: "badges" }, aliases.map((a) => aliasBadge(name, a.alias, a.version)))
        : h("p", { class: "muted" }, "No aliases. Set one on a version's page."),
    );
    // the versions table's alias column follows the model's aliases
    for (const tr of versionsBody.querySelectorAll<HTMLTableRowElement>("tr[data-version]")) {
      const cell = tr.querySelector("td.aliases");
      if (cell) cell.replaceChildren(...aliasesOf(tr.dataset.version!).map((a) => h("span", { class: "badge alias" }, a)));
    }
  }

  async function loadVersions(reset: boolean): Promise<void> {
    const mine = reset ? ++generation : generation;
    if (reset) token = undefined;
    versionsStatus.replaceChildren();
    more.disabled = true;
    const { filter, check } = nameEqualsFilter(name);
    try {
      const r = await api.get<{ model_versions?: ModelVersion[]; next_page_token?: string }>(
        "mlflow/model-versions/search",
        { filter, order_by: "version_number DESC", max_results: VERSION_PAGE, page_token: token },
        ctl.signal,
      );
      if (mine !== generation) return;
      if (reset) clear(versionsBody);
      for (const v of r.model_versions ?? []) if (!check || v.name === name) versionsBody.append(versionRow(v));
      token = r.next_page_token;
      more.hidden = !token;
      if (!versionsBody.firstChild) versionsStatus.append(notice("info", "No versions yet."));
    } catch (e) {
      if (!ctl.signal.aborted && mine === generation) versionsStatus.append(notice("error", message(e)));
    } finally {
      more.disabled = false;
    }
  }

  function versionRow(v: ModelVersion): HTMLTableRowElement {
    return h(
      "tr",
      { "data-version": v.version },
      h("td", null, h("a", { href: versionHref(name, v.version) }, `Version ${v.version}`)),
      h("td", null, stageBadge(v.current_stage)),
      h("td", { class: "aliases" }, aliasesOf(v.version).map((a) => h("span", { class: "badge alias" }, a))),
      h("td", null, statusBadge(v.status)),
      h("td", null, runLink(v)),
      h("td", null, fmtTime(v.creation_timestamp)),
      h("td", { class: "muted", title: v.description ?? "" }, excerpt(v.description, 60)),
    );
  }

  async function loadHistory(): Promise<void> {
    try {
      const r = await api.get<{ events?: HistoryEvent[] }>("keel/models/history", { name }, ctl.signal);
      const moves = aliasMoves(r.events ?? []);
      clear(historyBox);
      if (!moves.size) {
        historyBox.append(h("p", { class: "muted" }, "No alias has been set on this model since keel's audit log began."));
        return;
      }
      const current = new Set((model.aliases ?? []).map((a) => a.alias));
      const names = [...moves.keys()].sort((a, b) =>
        Number(current.has(b)) - Number(current.has(a)) || a.localeCompare(b));
      const body = h("tbody");
      for (const alias of names) {
        const list = [...moves.get(alias)!].reverse(); // newest first
        list.forEach((m, i) => {
          body.append(h(
            "tr",
            { "data-alias": alias, "data-version": m.version ?? "" },
            h("td", null, i === 0 ? h("span", { class: "badge alias" }, alias) : ""),
            h("td", null, fmtTime(m.time)),
            h("td", null, m.version
              ? h("a", { href: versionHref(name, m.version) }, `→ v${m.version}`)
              : h("span", { class: "muted" }, `removed (${m.why})`)),
            h("td", { class: "muted" }, m.principal || "–"),
          ));
        });
      }
      historyBox.append(h(
        "table",
        { class: "grid compact" },
        h("thead", null, h("tr", null, h("th", null, "Alias"), h("th", null, "When"), h("th", null, "Named"), h("th", null, "By"))),
        body,
      ));
    } catch (e) {
      if (ctl.signal.aborted) return;
      clear(historyBox);
      historyBox.append(notice("error", "Alias history unavailable: " + message(e)));
    }
  }

  async function refresh(): Promise<void> {
    try {
      model = await fetchModel(name, ctl.signal);
      render();
      void loadHistory();
    } catch (e) {
      if (!ctl.signal.aborted) status.append(notice("error", message(e)));
    }
  }

  const rename = h("button", {
    onclick: async () => {
      const to = prompt(`New name for model "${name}"`, name)?.trim();
      if (!to || to === name) return;
      if (await attempt(status, () => api.post("mlflow/registered-models/rename", { name, new_name: to })))
        navigate("/models/" + seg(to));
    },
  }, "Rename");
  const del = h("button", {
    class: "danger",
    onclick: async () => {
      if (!confirm(`Delete model "${name}" and all its versions? This cannot be undone.`)) return;
      if (await attempt(status, () => api.send("DELETE", "mlflow/registered-models/delete", { name })))
        navigate("/models");
    },
  }, "Delete");
  more.addEventListener("click", () => void loadVersions(false));

  render();
  void loadVersions(true);
  void loadHistory();

  const el = h(
    "section",
    { class: "page", "data-model": name },
    h("div", { class: "breadcrumb" }, h("a", { href: href("/models") }, "Models"), " /"),
    h("div", { class: "toolbar" }, h("h1", null, name), h("span", { class: "spacer" }), rename, del),
    status,
    props,
    h("h2", null, "Description"),
    describe,
    h("h2", null, "Aliases"),
    aliasesBox,
    h("h2", null, "Versions"),
    versionsStatus,
    h("table", { class: "grid", "data-testid": "versions" },
      h("thead", null, h("tr", null, h("th", null, "Version"), h("th", null, "Stage"), h("th", null, "Aliases"),
        h("th", null, "Status"), h("th", null, "Source run"), h("th", null, "Created"), h("th", null, "Description"))),
      versionsBody),
    more,
    h("h2", null, "Tags"),
    tagsBox,
    h("h2", null, "Alias history"),
    historyBox,
  );
  return { el, title: name, destroy: () => ctl.abort() };
}

// ---- one version -------------------------------------------------------------

export async function versionView(p: Record<string, string>): Promise<View> {
  const ctl = new AbortController();
  const name = p.name;
  const version = p.version;
  const fetchVersion = async () =>
    (await api.get<{ model_version: ModelVersion }>("mlflow/model-versions/get", { name, version }, ctl.signal))
      .model_version;
  let [mv, model] = await Promise.all([fetchVersion(), fetchModel(name, ctl.signal)]);

  const status = h("div", { class: "status" });
  const props = h("div");
  const stageBox = h("div", { "data-testid": "stage-control" });
  const aliasesBox = h("div", { "data-testid": "aliases" });
  const describe = h("div");
  const tagsBox = h("div");
  const download = h("dd", { "data-testid": "download-uri", class: "muted" }, "…");

  async function refresh(): Promise<void> {
    try {
      [mv, model] = await Promise.all([fetchVersion(), fetchModel(name, ctl.signal)]);
      render();
    } catch (e) {
      if (!ctl.signal.aborted) status.append(notice("error", message(e)));
    }
  }

  /** Applies a change and shows the state keel answers afterwards. */
  async function change(fn: () => Promise<unknown>): Promise<void> {
    if (await attempt(status, fn)) await refresh();
  }

  function render(): void {
    clear(props);
    props.append(h(
      "dl",
      { class: "props" },
      h("dt", null, "Stage"), h("dd", { "data-testid": "stage" }, stageBadge(mv.current_stage)),
      h("dt", null, "Status"), h("dd", null, statusBadge(mv.status), mv.status_message ? " " + mv.status_message : ""),
      h("dt", null, "Created"), h("dd", null, fmtTime(mv.creation_timestamp), mv.user_id ? ` by ${mv.user_id}` : ""),
      h("dt", null, "Last updated"), h("dd", null, fmtTime(mv.last_updated_timestamp)),
      h("dt", null, "Source"), h("dd", { class: "mono", "data-testid": "source" }, mv.source ?? ""),
      h("dt", null, "Source run"), h("dd", null, mv.run_id ? runLink(mv) : h("span", { class: "muted" }, "none")),
      mv.run_link ? [h("dt", null, "Run link"), h("dd", { class: "mono" }, mv.run_link)] : null,
      h("dt", null, "Download URI"), download,
    ));

    clear(stageBox);
    const select = h("select", { "aria-label": "New stage", name: "stage" },
      STAGES.map((s) => h("option", { value: s, selected: s === (mv.current_stage || "None") }, s)));
    const archive = h("input", { type: "checkbox", name: "archive_existing_versions" });
    const archiveLabel = h("label", { class: "check" }, archive, "Archive the model's other versions in this stage");
    const syncArchive = () => {
      const active = select.value === "Staging" || select.value === "Production";
      archive.disabled = !active;
      if (!active) archive.checked = false;
    };
    select.addEventListener("change", syncArchive);
    syncArchive();
    const form = h("form", { class: "inline wrap" }, select, archiveLabel,
      h("button", { type: "submit", class: "primary" }, "Transition"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void change(() => api.post("mlflow/model-versions/transition-stage", {
        name, version, stage: select.value, archive_existing_versions: archive.checked,
      }));
    });
    stageBox.append(form);

    clear(aliasesBox);
    const mine = [...(mv.aliases ?? [])].sort();
    const others = (model.aliases ?? []).filter((a) => a.version !== version)
      .sort((a, b) => a.alias.localeCompare(b.alias));
    aliasesBox.append(
      mine.length
        ? h("div", { class: "badges" }, mine.map((a) => h("span", { class: "badge alias", "data-alias": a },
            a,
            h("button", {
              class: "badge-x",
              title: `Remove alias "${a}"`,
              "aria-label": `Remove alias ${a}`,
              onclick: () => {
                if (confirm(`Remove alias "${a}" from version ${version}?`))
                  void change(() => api.send("DELETE", "mlflow/registered-models/alias", { name, alias: a }));
              },
            }, "×"))))
        : h("p", { class: "muted" }, "This version has no alias."),
    );
    const aliasInput = h("input", { placeholder: "Alias, e.g. champion", "aria-label": "Alias", name: "alias" });
    const aliasForm = h("form", { class: "inline" }, aliasInput,
      h("button", { type: "submit" }, `Set on version ${version}`));
    aliasForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const alias = aliasInput.value.trim();
      if (alias) void change(() => api.post("mlflow/registered-models/alias", { name, alias, version }));
    });
    aliasesBox.append(aliasForm);
    if (others.length) {
      aliasesBox.append(h(
        "div",
        { class: "other-aliases" },
        h("span", { class: "muted" }, "Other aliases of this model: "),
        others.map((a) => h("span", { class: "alias-move", "data-alias": a.alias },
          aliasBadge(name, a.alias, a.version),
          h("button", {
            onclick: () => void change(() => api.post("mlflow/registered-models/alias", { name, alias: a.alias, version })),
          }, `Move to v${version}`))),
      ));
    }

    clear(describe);
    describe.append(descriptionEditor(mv.description ?? "", (text) =>
      change(() => api.send("PATCH", "mlflow/model-versions/update", { name, version, description: text }))));

    clear(tagsBox);
    tagsBox.append(tagsEditor(
      mv.tags ?? [],
      (key, value) => change(() => api.post("mlflow/model-versions/set-tag", { name, version, key, value })),
      (key) => change(() => api.send("DELETE", "mlflow/model-versions/delete-tag", { name, version, key })),
    ));
    void loadDownload();
  }

  let downloadText: string | null = null;
  async function loadDownload(): Promise<void> {
    if (downloadText === null) {
      try {
        const r = await api.get<{ artifact_uri: string }>("mlflow/model-versions/get-download-uri", { name, version }, ctl.signal);
        downloadText = r.artifact_uri;
      } catch (e) {
        if (ctl.signal.aborted) return;
        download.textContent = message(e);
        return;
      }
    }
    download.className = "mono";
    download.textContent = downloadText;
  }

  const del = h("button", {
    class: "danger",
    onclick: async () => {
      if (!confirm(`Delete version ${version} of "${name}"? Its aliases go with it. This cannot be undone.`)) return;
      if (await attempt(status, () => api.send("DELETE", "mlflow/model-versions/delete", { name, version })))
        navigate("/models/" + seg(name));
    },
  }, "Delete version");

  render();

  const el = h(
    "section",
    { class: "page", "data-model": name, "data-version": version },
    h("div", { class: "breadcrumb" }, h("a", { href: href("/models") }, "Models"), " / ",
      h("a", { href: modelHref(name) }, name), " /"),
    h("div", { class: "toolbar" }, h("h1", null, `${name} · version ${version}`), h("span", { class: "spacer" }), del),
    status,
    props,
    h("h2", null, "Stage"),
    stageBox,
    h("h2", null, "Aliases"),
    aliasesBox,
    h("h2", null, "Description"),
    describe,
    h("h2", null, "Tags"),
    tagsBox,
  );
  return { el, title: `${name} v${version}`, destroy: () => ctl.abort() };
}
