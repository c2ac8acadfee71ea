// runs.ts -- an experiment's runs as one table: chosen param/metric/tag
// columns, sorting by any of them, MLflow's filter language, active or
// deleted runs, and runs selected for comparing, deleting or restoring.
//
// The server filters, sorts and pages (runs/search, 1,000 runs a page); the
// next page is asked for only when the view comes near the end of what is
// loaded, and the table keeps only the rows in view in the page (vtable.ts),
// so 100,000 runs scroll smoothly. Filter, order, columns and view type live
// in the address (filter, order, cols, view_type), so a link opens the same
// table again.
import * as api from "../api";
import { h, fmtTime, fmtDuration, fmtNumber, notice } from "../dom";
import { View, replaceQuery, href, seg } from "../router";
import { VTable, VColumn, VSort } from "../vtable";

interface KV {
  key: string;
  value: string | number;
}

interface Run {
  info: {
    run_id: string;
    run_name?: string;
    user_id?: string;
    status?: string;
    start_time?: string | number;
    end_time?: string | number;
    lifecycle_stage?: string;
  };
  data?: { metrics?: KV[]; params?: KV[]; tags?: KV[] };
}

interface SearchResponse {
  runs?: Run[];
  next_page_token?: string;
}

/** What the table keeps of a run: the shown fields and a "kind.key" -> value map. */
interface Row {
  id: string;
  name: string;
  start: number;
  end: number;
  status: string;
  user: string;
  v: Record<string, string | number>;
}

type Kind = "metrics" | "params" | "tags";
const KINDS: Kind[] = ["metrics", "params", "tags"];
const KIND_NAMES: Record<Kind, string> = { metrics: "Metrics", params: "Parameters", tags: "Tags" };
const KIND_ONE: Record<Kind, string> = { metrics: "metric", params: "param", tags: "tag" };

const PAGE = 1000;
const DEFAULT_ORDER = "attributes.start_time DESC";
/** How many metric and param columns an address without `cols` shows, each. */
const AUTO_COLS = 8;
/** The `cols` value for "no key columns" (an empty value would mean the default). */
const NO_COLS = "none";
/** Runs deleted or restored at once. */
const ACT_CONCURRENCY = 4;

/** "metrics.loss" -> ["metrics", "loss"]; null for anything else. */
function splitCol(c: string): [Kind, string] | null {
  const dot = c.indexOf(".");
  const kind = c.slice(0, dot) as Kind;
  return dot > 0 && KINDS.includes(kind) && dot < c.length - 1 ? [kind, c.slice(dot + 1)] : null;
}

/** An order_by entry for a column id: keys backquoted, as MLflow's parser takes them. */
function orderFor(sort: VSort): string {
  const kc = splitCol(sort.id);
  return kc ? `${kc[0]}.\`${kc[1]}\` ${sort.dir}` : `${sort.id} ${sort.dir}`;
}

/** The column an order_by entry sorts on, if the table has a header for it. */
function parseOrder(order: string): VSort | null {
  const m = /^\s*(?:(attributes|metrics|params|tags)\.)?(?:`([^`]*)`|"([^"]*)"|(\S+))\s+(ASC|DESC)\s*$/i.exec(order) ??
    /^\s*(?:(attributes|metrics|params|tags)\.)?(?:`([^`]*)`|"([^"]*)"|(\S+))()\s*$/i.exec(order);
  if (!m) return null;
  const kind = (m[1] ?? "attributes").toLowerCase();
  const key = m[2] ?? m[3] ?? m[4];
  const dir = (m[5] || "ASC").toUpperCase() as "ASC" | "DESC";
  return { id: `${kind}.${key}`, dir };
}

function toRow(r: Run): Row {
  const v: Record<string, string | number> = {};
  const tags: Record<string, string> = {};
  for (const m of r.data?.metrics ?? []) v["metrics." + m.key] = m.value;
  for (const p of r.data?.params ?? []) v["params." + p.key] = String(p.value);
  for (const t of r.data?.tags ?? []) {
    // mlflow.* tags are keel's and MLflow's bookkeeping: shown through the fixed columns
    if (t.key.startsWith("mlflow.")) tags[t.key] = String(t.value);
    else v["tags." + t.key] = String(t.value);
  }
  const i = r.info;
  return {
    id: i.run_id,
    name: i.run_name || tags["mlflow.runName"] || i.run_id,
    start: Number(i.start_time ?? 0),
    end: Number(i.end_time ?? 0),
    status: i.status ?? "",
    user: i.user_id || tags["mlflow.user"] || "",
    v,
  };
}

function statusBadge(s: string): HTMLElement {
  const cls = s === "FINISHED" ? "ok" : s === "FAILED" || s === "KILLED" ? "bad" : s ? "warn" : "";
  return h("span", { class: `badge ${cls}` }, s.toLowerCase());
}

/** Runs fn over items, `n` at a time; the messages of those that failed. */
async function eachLimited<T>(items: T[], n: number, fn: (x: T) => Promise<unknown>): Promise<string[]> {
  const errors: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const x = items[next++];
      try {
        await fn(x);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return errors;
}

export async function runsView(params: Record<string, string>, query: URLSearchParams): Promise<View> {
  const expId = params.id;
  let filter = query.get("filter") ?? "";
  let order = query.get("order") || DEFAULT_ORDER;
  let deleted = query.get("view_type") === "deleted";
  const colsParam = query.get("cols");
  /** Chosen key columns; null until the first page picks the default ones. */
  let cols: string[] | null =
    colsParam === NO_COLS ? [] : colsParam ? colsParam.split(",").filter((c) => splitCol(c)) : null;

  let rows: Row[] = [];
  const ids = new Set<string>();
  const seen: Record<Kind, Set<string>> = { metrics: new Set(), params: new Set(), tags: new Set() };
  let seenCount = 0;
  const selected = new Set<string>();
  let lastClicked = -1;
  let token: string | undefined;
  let loading = false;
  let failed = false;
  let generation = 0;
  let dead = false;

  // ---- elements
  const title = h("h1", null, "Experiment " + expId);
  const errors = h("div", { class: "runs-errors" });
  const count = h("span", { class: "runs-count", "aria-live": "polite" });
  const retry = h("button", { type: "button", class: "link", hidden: true }, "Try again");
  const search = h("input", {
    type: "search",
    class: "wide",
    name: "filter",
    value: filter,
    placeholder: "metrics.loss < 0.5 and params.lr = '0.1'",
    "aria-label": "Filter runs",
    spellcheck: "false",
    autocomplete: "off",
  });
  const searchForm = h("form", { class: "inline runs-search", role: "search" }, search,
    h("button", { type: "submit" }, "Search"));
  const viewType = h("select", { "aria-label": "Runs shown" },
    h("option", { value: "active" }, "Active runs"),
    h("option", { value: "deleted" }, "Deleted runs"));
  viewType.value = deleted ? "deleted" : "active";
  const compare = h("a", { class: "button", "data-testid": "compare" });
  const actBtn = h("button", { type: "button" });
  const clearSel = h("button", { type: "button", class: "link", hidden: true }, "Clear selection");

  const chooserFind = h("input", { type: "search", placeholder: "Find a key", "aria-label": "Find a column key" });
  const chooserLists = h("div", { class: "cols-lists" });
  const chooser = h(
    "details",
    { class: "cols-chooser" },
    h("summary", { class: "button" }, "Columns"),
    h(
      "div",
      { class: "cols-panel" },
      h("div", { class: "toolbar" }, chooserFind,
        h("button", { type: "button", class: "link", onclick: () => setCols(null) }, "Default")),
      chooserLists,
    ),
  );

  const table = new VTable<Row>({
    rowHeight: 30,
    overscan: 8,
    nearEnd: 300,
    attrs: { "data-testid": "runs-table", "data-loaded": "0", "data-state": "loading", "aria-label": "Runs" },
    rowAttrs: (r) => ({ "data-run-id": r.id, class: selected.has(r.id) ? "vt-row selected" : "vt-row" }),
    onNearEnd: () => {
      if (token && !loading && !failed) load(false);
    },
    onSort: (id) => {
      const cur = parseOrder(order);
      // a second click turns the order round; a first one sorts ascending, time newest first
      const dir: "ASC" | "DESC" =
        cur && cur.id === id ? (cur.dir === "ASC" ? "DESC" : "ASC") :
        id === "attributes.start_time" ? "DESC" : "ASC";
      order = orderFor({ id, dir });
      replaceQuery({ order: order === DEFAULT_ORDER ? null : order });
      table.setSort(parseOrder(order));
      load(true);
    },
  });

  // ---- columns
  function fixedColumns(): VColumn<Row>[] {
    return [
      {
        id: "select",
        label: "",
        title: "Select",
        width: 36,
        align: "center",
        render: (r, i) => {
          const box = h("input", { type: "checkbox", "aria-label": "Select run " + r.name });
          box.checked = selected.has(r.id);
          box.addEventListener("click", (ev) => toggle(i, box.checked, (ev as MouseEvent).shiftKey));
          return box;
        },
      },
      {
        id: "attributes.run_name",
        label: "Run",
        width: 220,
        sortable: true,
        render: (r) => h("a", { href: href("/runs/" + seg(r.id)) }, r.name),
        tooltip: (r) => r.name,
      },
      { id: "attributes.start_time", label: "Started", width: 178, sortable: true, render: (r) => fmtTime(r.start) },
      {
        id: "duration",
        label: "Duration",
        width: 100,
        align: "right",
        render: (r) => (r.end && r.start ? fmtDuration(r.end - r.start) : ""),
      },
      { id: "attributes.status", label: "Status", width: 100, sortable: true, render: (r) => statusBadge(r.status) },
      { id: "attributes.user_id", label: "User", width: 120, sortable: true, render: (r) => r.user, tooltip: (r) => r.user },
    ];
  }

  function keyColumn(c: string): VColumn<Row> | null {
    const kc = splitCol(c);
    if (!kc) return null;
    const [kind, key] = kc;
    // metrics leave room for fmtNumber's longest forms (e.g. "0.00000123457")
    const width = Math.max(kind === "metrics" ? 120 : 90, Math.min(220, key.length * 8 + 40));
    const text = (r: Row) => {
      const v = r.v[c];
      return v === undefined ? "" : kind === "metrics" ? fmtNumber(v) : String(v);
    };
    return {
      id: c,
      label: key,
      title: `${KIND_ONE[kind]} ${key}`,
      headClass: "kind-" + kind,
      width,
      align: kind === "metrics" ? "right" : "left",
      sortable: true,
      render: text,
      tooltip: (r) => (r.v[c] === undefined ? undefined : String(r.v[c])),
    };
  }

  function effectiveCols(): string[] {
    return cols ?? [];
  }

  function applyColumns(): void {
    const keyCols = effectiveCols().map(keyColumn).filter((c): c is VColumn<Row> => c !== null);
    table.setColumns([...fixedColumns(), ...keyCols], parseOrder(order));
  }

  function setCols(next: string[] | null): void {
    cols = next;
    if (next === null) pickDefaultCols();
    replaceQuery({ cols: next === null ? null : next.length ? next.join(",") : NO_COLS });
    applyColumns();
    renderChooser();
  }

  /** Without `cols` in the address: the first metrics and params seen, by name. */
  function pickDefaultCols(): void {
    if (!rows.length) return;
    cols = [
      ...[...seen.metrics].sort().slice(0, AUTO_COLS).map((k) => "metrics." + k),
      ...[...seen.params].sort().slice(0, AUTO_COLS).map((k) => "params." + k),
    ];
  }

  function renderChooser(): void {
    const want = chooserFind.value.trim().toLowerCase();
    const chosen = new Set(effectiveCols());
    const groups: HTMLElement[] = [];
    for (const kind of KINDS) {
      const keys = new Set(seen[kind]);
      for (const c of chosen) {
        const kc = splitCol(c);
        if (kc && kc[0] === kind) keys.add(kc[1]);
      }
      const items = [...keys].sort().filter((k) => !want || k.toLowerCase().includes(want));
      if (!items.length) continue;
      groups.push(
        h("fieldset", null, h("legend", null, KIND_NAMES[kind]),
          items.map((k) => {
            const id = `${kind}.${k}`;
            const box = h("input", { type: "checkbox", "data-key": id });
            box.checked = chosen.has(id);
            box.addEventListener("change", () => {
              const now = effectiveCols().filter((c) => c !== id);
              if (box.checked) now.push(id);
              setCols(now);
            });
            return h("label", { class: "check", title: id }, box, k);
          })),
      );
    }
    if (!groups.length)
      groups.push(h("p", { class: "muted" }, seenCount ? "No key matches." : "No params, metrics or tags in the loaded runs."));
    chooserLists.replaceChildren(...groups);
  }
  chooserFind.addEventListener("input", renderChooser);

  // ---- selection and actions
  function toggle(i: number, on: boolean, range: boolean): void {
    const span = range && lastClicked >= 0 ? [Math.min(lastClicked, i), Math.max(lastClicked, i)] : [i, i];
    for (let j = span[0]; j <= span[1]; j++) {
      const id = rows[j]?.id;
      if (!id) continue;
      if (on) selected.add(id);
      else selected.delete(id);
    }
    lastClicked = i;
    table.refresh();
    showSelection();
  }

  function showSelection(): void {
    const n = selected.size;
    compare.textContent = `Compare (${n})`;
    if (n >= 2) {
      compare.setAttribute("href", "#/compare?runs=" + [...selected].map(encodeURIComponent).join(","));
      compare.removeAttribute("aria-disabled");
      compare.title = "";
    } else {
      compare.removeAttribute("href");
      compare.setAttribute("aria-disabled", "true");
      compare.title = "Select two or more runs to compare";
    }
    actBtn.textContent = `${deleted ? "Restore" : "Delete"}${n ? ` (${n})` : ""}`;
    actBtn.className = deleted ? "" : "danger";
    actBtn.disabled = n === 0;
    clearSel.hidden = n === 0;
  }

  actBtn.addEventListener("click", async () => {
    const chosen = [...selected];
    if (!chosen.length) return;
    const verb = deleted ? "Restore" : "Delete";
    const what = chosen.length === 1 ? "1 run" : `${chosen.length} runs`;
    const ask = deleted ? `Restore ${what}?` : `Delete ${what}? They can be restored until keel gc removes them.`;
    if (!confirm(ask)) return;
    errors.replaceChildren();
    actBtn.disabled = true;
    const path = deleted ? "mlflow/runs/restore" : "mlflow/runs/delete";
    const failures = await eachLimited(chosen, ACT_CONCURRENCY, (id) => api.post(path, { run_id: id }));
    if (dead) return;
    selected.clear();
    showSelection();
    load(true); // clears the messages of the table before: this one comes after
    if (failures.length)
      errors.append(notice("error", `${verb} failed for ${failures.length} of ${chosen.length} runs: ${failures[0]}`));
  });
  clearSel.addEventListener("click", () => {
    selected.clear();
    table.refresh();
    showSelection();
  });

  // ---- loading
  function showCount(): void {
    const n = rows.length;
    const runs = n === 1 ? "1 run" : `${n.toLocaleString("en-US")} runs`;
    count.textContent = loading && n === 0 ? "Loading runs…" :
      loading ? `${runs} loaded, loading more…` :
      token ? `${runs} loaded, more…` : `${runs}${n ? ", all loaded" : ""}`;
    retry.hidden = !failed;
  }

  function collectKeys(page: Row[]): boolean {
    const before = seenCount;
    for (const r of page) {
      for (const c in r.v) {
        const kc = splitCol(c);
        if (kc && !seen[kc[0]].has(kc[1])) {
          seen[kc[0]].add(kc[1]);
          seenCount++;
        }
      }
    }
    return seenCount !== before;
  }

  async function load(reset: boolean): Promise<void> {
    if (reset) {
      generation++;
      rows = []; // the table's own array from here on: appendRows() pushes into it
      ids.clear();
      token = undefined;
      lastClicked = -1;
      table.setRows(rows);
      table.setEmpty("");
      table.el.dataset.loaded = "0";
    } else if (loading || !token) return;
    const mine = generation;
    loading = true;
    failed = false;
    table.el.dataset.state = "loading";
    if (reset) errors.replaceChildren();
    showCount();
    try {
      const r = await api.post<SearchResponse>("mlflow/runs/search", {
        experiment_ids: [expId],
        filter,
        order_by: [order],
        max_results: PAGE,
        page_token: token,
        run_view_type: deleted ? "DELETED_ONLY" : "ACTIVE_ONLY",
      });
      if (dead || mine !== generation) return;
      const page: Row[] = [];
      for (const run of r.runs ?? []) {
        // pages are offsets: a run logged meanwhile can shift one into the next page
        if (ids.has(run.info.run_id)) continue;
        ids.add(run.info.run_id);
        page.push(toRow(run));
      }
      token = r.next_page_token || undefined;
      const newKeys = collectKeys(page);
      table.appendRows(page);
      if (cols === null && rows.length) {
        pickDefaultCols();
        applyColumns();
      }
      if (newKeys || reset) renderChooser();
      if (!rows.length)
        table.setEmpty(filter ? "No runs match the filter." : deleted ? "No deleted runs." : "No runs in this experiment yet.");
      table.el.dataset.loaded = String(rows.length);
      // "ready" once the table has painted these rows (its frame was asked for first)
      requestAnimationFrame(() => {
        if (!dead && mine === generation && !loading) table.el.dataset.state = "ready";
      });
    } catch (e) {
      if (dead || mine !== generation) return;
      failed = !reset;
      table.el.dataset.state = "error";
      const msg = (e as Error).message;
      errors.replaceChildren(notice("error", reset && filter ? `The filter was refused: ${msg}` : msg));
      if (reset) table.setEmpty("No runs shown.");
    } finally {
      if (mine === generation) {
        loading = false;
        if (!dead) showCount();
      }
    }
  }
  retry.addEventListener("click", () => {
    failed = false;
    load(false);
  });

  searchForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    filter = search.value.trim();
    replaceQuery({ filter: filter || null });
    selected.clear();
    showSelection();
    load(true);
  });
  viewType.addEventListener("change", () => {
    deleted = viewType.value === "deleted";
    replaceQuery({ view_type: deleted ? "deleted" : null });
    selected.clear();
    showSelection();
    load(true);
  });

  applyColumns();
  showSelection();
  renderChooser();
  load(true);

  // the columns panel closes on a click elsewhere, like a menu
  const closeChooser = (ev: MouseEvent) => {
    if (chooser.open && !chooser.contains(ev.target as Node)) chooser.open = false;
  };
  document.addEventListener("click", closeChooser);
  const destroy = () => {
    dead = true;
    table.destroy();
    document.removeEventListener("click", closeChooser);
  };
  try {
    const e = await api.get<{ experiment: { name: string; lifecycle_stage?: string } }>("mlflow/experiments/get", {
      experiment_id: expId,
    });
    title.textContent = e.experiment.name;
    if (e.experiment.lifecycle_stage === "deleted") title.append(" ", h("span", { class: "badge bad" }, "deleted"));
  } catch (e) {
    destroy();
    throw e;
  }

  const el = h(
    "section",
    { class: "page runs-page" },
    h("div", { class: "breadcrumb" }, h("a", { href: "#/experiments" }, "Experiments"), " / ", expId),
    h("div", { class: "toolbar" }, title),
    h(
      "div",
      { class: "toolbar" },
      searchForm,
      viewType,
      chooser,
      h("span", { class: "spacer" }),
      clearSel,
      compare,
      actBtn,
    ),
    errors,
    h("div", { class: "toolbar runs-status" }, count, retry),
    table.el,
  );
  return { el, title: title.textContent ?? "Runs", destroy };
}
