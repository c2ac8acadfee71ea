// run.ts -- one run: its header (name, status, experiment, times, user,
// source) and three tabs. Overview: description, params, latest metrics,
// tags, datasets and logged models. Charts: the chosen metrics' histories
// by step or time. Artifacts: the file browser with previews. The tab, the
// chosen metrics, the x axis and the open artifact live in the address
// (#/runs/<id>?tab=charts&metrics=loss,acc&x=step), so any of it can be
// shared as a link.
import * as api from "../api";
import { h, clear, fmtTime, fmtDuration, fmtNumber, notice } from "../dom";
import { View, replaceQuery, href, seg, current } from "../router";
import { ChartGrid, X_AXES, XAxis, parseXAxis, runsChart, colorOf } from "../chart";
import { artifactBrowser, ArtifactBrowser } from "../artifacts";

export interface KV {
  key: string;
  value: string;
}

export interface RunMetric {
  key: string;
  value: number | string;
  timestamp: number | string;
  step: number | string;
}

export interface RunInfo {
  run_id: string;
  run_name?: string;
  experiment_id: string;
  status: string;
  start_time?: number | string;
  end_time?: number | string;
  artifact_uri?: string;
  user_id?: string;
  lifecycle_stage?: string;
}

export interface DatasetInput {
  tags?: KV[];
  dataset: { name: string; digest: string; source_type: string; source: string; schema?: string; profile?: string };
}

export interface Run {
  info: RunInfo;
  data: { metrics?: RunMetric[]; params?: KV[]; tags?: KV[] };
  inputs?: { dataset_inputs?: DatasetInput[]; model_inputs?: { model_id: string }[] };
  outputs?: { model_outputs?: { model_id: string; step?: number | string }[] };
}

export const tagOf = (r: Run, key: string): string | undefined => r.data.tags?.find((t) => t.key === key)?.value;

export const runName = (r: Run): string => r.info.run_name || tagOf(r, "mlflow.runName") || r.info.run_id;

export function statusBadge(status: string): HTMLElement {
  const kind = status === "FINISHED" ? "ok" : status === "FAILED" || status === "KILLED" ? "bad" : "warn";
  return h("span", { class: `badge ${kind}`, "data-testid": "status" }, status);
}

/** How long the run took, or has been running. */
export function runDuration(info: RunInfo): string {
  const start = Number(info.start_time ?? 0);
  if (!start) return "";
  const end = info.end_time !== undefined ? Number(info.end_time) : info.status === "RUNNING" ? Date.now() : NaN;
  const d = fmtDuration(end - start);
  return d && info.end_time === undefined ? d + " so far" : d;
}

export const runHref = (id: string, q?: Record<string, string>) => href("/runs/" + seg(id), q);

export type SetQuery = (patch: Record<string, string | undefined | null>) => void;

/** replaceQuery for the view at the current address only: a view still
 * loading when the address changes must not write into the next one's. */
export function queryKeeper(): SetQuery {
  const mine = current().path;
  return (patch) => {
    if (current().path === mine) replaceQuery(patch);
  };
}

/** Metric keys in a fixed, readable order. */
export const metricKeys = (runs: Run[]): string[] =>
  [...new Set(runs.flatMap((r) => (r.data.metrics ?? []).map((m) => m.key)))].sort();

function kvTable(testid: string, rows: [string, Node | string][], empty: string): HTMLElement {
  if (!rows.length) return h("p", { class: "muted", "data-testid": testid }, empty);
  return h(
    "table",
    { class: "grid kv", "data-testid": testid },
    h("thead", null, h("tr", null, h("th", null, "Name"), h("th", null, "Value"))),
    h("tbody", null, ...rows.map(([k, v]) => h("tr", { "data-key": k }, h("th", { scope: "row" }, k), h("td", null, v)))),
  );
}

const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** The overview tab: everything logged with the run but the histories and files. */
function overview(run: Run, query: URLSearchParams, setQuery: SetQuery, openMetric: (key: string) => void, openArtifact: (p: string) => void): HTMLElement {
  const el = h("div", { class: "page run-overview" });
  const note = tagOf(run, "mlflow.note.content");
  if (note) el.append(h("h2", null, "Description"), h("div", { class: "run-note", "data-testid": "description" }, note));

  const params = [...(run.data.params ?? [])].sort(byKey);
  el.append(h("h2", null, `Parameters (${params.length})`), kvTable("params", params.map((p) => [p.key, p.value]), "No parameters."));

  const metrics = [...(run.data.metrics ?? [])].sort(byKey);
  el.append(h("h2", null, `Metrics (${metrics.length})`));
  if (!metrics.length) el.append(h("p", { class: "muted", "data-testid": "metrics" }, "No metrics."));
  else
    el.append(
      h(
        "table",
        { class: "grid kv", "data-testid": "metrics" },
        h("thead", null, h("tr", null, h("th", null, "Name"), h("th", null, "Latest value"), h("th", null, "Step"), h("th", null, "Logged"))),
        h(
          "tbody",
          null,
          ...metrics.map((m) => {
            const a = h("a", { href: runHref(run.info.run_id, { tab: "charts", metrics: m.key, x: query.get("x") ?? "" }) }, m.key);
            a.addEventListener("click", (ev) => {
              ev.preventDefault();
              openMetric(m.key);
            });
            return h(
              "tr",
              { "data-key": m.key },
              h("th", { scope: "row" }, a),
              h("td", { class: "num" }, fmtNumber(m.value)),
              h("td", { class: "num" }, String(m.step ?? "")),
              h("td", null, fmtTime(m.timestamp)),
            );
          }),
        ),
      ),
    );

  const tags = [...(run.data.tags ?? [])].sort(byKey);
  const own = tags.filter((t) => !t.key.startsWith("mlflow."));
  const system = tags.filter((t) => t.key.startsWith("mlflow."));
  const tagBox = h("div");
  const showSystem = h("input", { type: "checkbox" });
  showSystem.checked = query.get("systags") === "1";
  const drawTags = () => {
    const list = showSystem.checked ? [...own, ...system] : own;
    tagBox.replaceChildren(kvTable("tags", list.map((t) => [t.key, t.value]), "No tags."));
  };
  showSystem.addEventListener("change", () => {
    setQuery({ systags: showSystem.checked ? "1" : "" });
    drawTags();
  });
  drawTags();
  el.append(
    h("div", { class: "toolbar" }, h("h2", null, `Tags (${own.length})`), h("span", { class: "spacer" }),
      system.length ? h("label", { class: "check" }, showSystem, `Show system tags (${system.length})`) : null),
    tagBox,
  );

  const datasets = run.inputs?.dataset_inputs ?? [];
  if (datasets.length)
    el.append(
      h("h2", null, `Datasets (${datasets.length})`),
      h(
        "table",
        { class: "grid", "data-testid": "datasets" },
        h("thead", null, h("tr", null, ...["Name", "Digest", "Source type", "Context", "Source"].map((t) => h("th", null, t)))),
        h(
          "tbody",
          null,
          ...datasets.map((d) =>
            h(
              "tr",
              { "data-dataset": d.dataset.name },
              h("td", null, d.dataset.name),
              h("td", { class: "mono" }, d.dataset.digest),
              h("td", null, d.dataset.source_type),
              h("td", null, d.tags?.find((t) => t.key === "mlflow.data.context")?.value ?? ""),
              h("td", { class: "mono small", title: d.dataset.source }, d.dataset.source),
            ),
          ),
        ),
      ),
    );

  // models: MLflow 3's logged models (outputs), and MLflow 2's log-model history
  const outputs = run.outputs?.model_outputs ?? [];
  let logged: { artifact_path?: string; flavors?: Record<string, unknown>; utc_time_created?: string }[] = [];
  try {
    const v = JSON.parse(tagOf(run, "mlflow.log-model.history") ?? "[]");
    if (Array.isArray(v)) logged = v;
  } catch {
    /* not JSON: nothing to list */
  }
  if (outputs.length || logged.length) {
    const rows: HTMLTableRowElement[] = [];
    for (const o of outputs) {
      const name = h("td", null, o.model_id);
      rows.push(h("tr", { "data-model": o.model_id }, name, h("td", null, "logged model"), h("td", null, String(o.step ?? "")), h("td")));
      api.get<{ model?: { info?: { name?: string; status?: string } } }>("mlflow/logged-models/" + seg(o.model_id))
        .then((r) => {
          const info = r.model?.info;
          if (info?.name) name.replaceChildren(info.name, h("span", { class: "muted small" }, ` ${o.model_id}`));
        })
        .catch(() => {});
    }
    for (const m of logged) {
      const p = m.artifact_path ?? "";
      const a = h("a", { href: runHref(run.info.run_id, { tab: "artifacts", path: p }) }, p);
      a.addEventListener("click", (ev) => {
        ev.preventDefault();
        openArtifact(p);
      });
      rows.push(h("tr", { "data-model": p }, h("td", null, a), h("td", null, Object.keys(m.flavors ?? {}).join(", ")),
        h("td"), h("td", null, m.utc_time_created ?? "")));
    }
    el.append(
      h("h2", null, "Logged models"),
      h("table", { class: "grid", "data-testid": "models" },
        h("thead", null, h("tr", null, ...["Model", "Flavors / kind", "Step", "Created"].map((t) => h("th", null, t)))),
        h("tbody", null, ...rows)),
    );
  }
  return el;
}

interface ChartsTab {
  el: HTMLElement;
  select(keys: string[]): void;
  destroy(): void;
}

/** The charts tab: metric picker, x axis, one chart per chosen metric. */
function chartsTab(run: Run, query: URLSearchParams, setQuery: SetQuery): ChartsTab {
  const keys = metricKeys([run]);
  const el = h("div", { class: "page run-charts" });
  if (!keys.length) {
    el.append(notice("info", "This run has no metrics to chart."));
    return { el, select() {}, destroy() {} };
  }
  const known = new Set(keys);
  const asked = query.get("metrics");
  let selected = asked !== null ? asked.split(",").filter((k) => known.has(k)) : keys.slice(0, 6);
  let x: XAxis = parseXAxis(query.get("x"));
  const charts = new ChartGrid((k, signal) => runsChart(k, [ref], x, signal));
  const ref = {
    id: run.info.run_id,
    label: runName(run),
    color: colorOf(0),
    start: Number(run.info.start_time ?? 0),
  };

  const boxes = new Map<string, HTMLInputElement>();
  const picker = h("div", { class: "metric-picker", "data-testid": "metric-picker" });
  for (const k of keys) {
    const box = h("input", { type: "checkbox", value: k });
    box.addEventListener("change", () => {
      selected = keys.filter((key) => boxes.get(key)!.checked);
      sync();
    });
    boxes.set(k, box);
    picker.append(h("label", { class: "check", "data-key": k }, box, k));
  }
  const filter = h("input", { type: "search", placeholder: "Filter metrics", "aria-label": "Filter metrics", class: "narrow" });
  filter.addEventListener("input", () => {
    const f = filter.value.trim().toLowerCase();
    for (const l of picker.querySelectorAll<HTMLElement>("label[data-key]"))
      l.hidden = !!f && !l.dataset.key!.toLowerCase().includes(f);
  });
  const none = h("button", { type: "button" }, "Clear");
  none.addEventListener("click", () => {
    selected = [];
    sync();
  });
  const xSel = h("select", { "aria-label": "X axis", "data-testid": "x-axis" },
    ...X_AXES.map((a) => h("option", { value: a.value, selected: a.value === x }, a.label)));
  xSel.addEventListener("change", () => {
    x = parseXAxis(xSel.value);
    setQuery({ x: x === "step" ? "" : x });
    charts.setX(x);
  });
  const empty = h("p", { class: "muted" }, "Choose metrics to chart.");

  function sync(): void {
    setQuery({ metrics: selected.join(","), tab: "charts" });
    for (const [k, b] of boxes) b.checked = selected.includes(k);
    charts.show(selected); // in the picker's order
    empty.hidden = selected.length > 0;
  }

  el.append(
    h("div", { class: "toolbar" }, h("label", null, "X axis ", xSel), h("span", { class: "spacer" }), keys.length > 12 ? filter : null, none),
    picker,
    empty,
    charts.el,
  );
  sync();
  return {
    el,
    select(list: string[]) {
      selected = list.filter((k) => known.has(k));
      sync();
    },
    destroy() {
      charts.destroy();
    },
  };
}

type Tab = "overview" | "charts" | "artifacts";
const TABS: { id: Tab; label: string }[] = [
  { id: "overview", label: "Overview" },
  { id: "charts", label: "Charts" },
  { id: "artifacts", label: "Artifacts" },
];

export async function runView(params: Record<string, string>, query: URLSearchParams): Promise<View> {
  const id = params.id;
  const setQuery = queryKeeper();
  const ctl = new AbortController();
  const { run } = await api.get<{ run: Run }>("mlflow/runs/get", { run_id: id }, ctl.signal);
  const info = run.info;
  const name = runName(run);

  const expHref = href("/experiments/" + seg(info.experiment_id));
  const expLink = h("a", { href: expHref }, `Experiment ${info.experiment_id}`);
  const crumb = h("a", { href: expHref }, `Experiment ${info.experiment_id}`);
  api.get<{ experiment: { name: string } }>("mlflow/experiments/get", { experiment_id: info.experiment_id }, ctl.signal)
    .then((r) => {
      expLink.textContent = r.experiment.name;
      crumb.textContent = r.experiment.name;
    })
    .catch(() => {});

  const source = tagOf(run, "mlflow.source.name");
  const commit = tagOf(run, "mlflow.source.git.commit");
  const parent = tagOf(run, "mlflow.parentRunId");
  const meta: [string, Node | string][] = [
    ["Run ID", h("span", { class: "mono" }, info.run_id)],
    ["Experiment", expLink],
    ["Started", fmtTime(Number(info.start_time ?? 0) || undefined)],
    ["Duration", runDuration(info)],
    ["User", info.user_id || tagOf(run, "mlflow.user") || ""],
    ["Source", source ? `${source}${commit ? ` @ ${commit.slice(0, 10)}` : ""}` : ""],
  ];
  if (parent) meta.push(["Parent run", h("a", { href: runHref(parent) }, parent)]);
  if (info.lifecycle_stage === "deleted") meta.push(["Lifecycle", h("span", { class: "badge bad" }, "deleted")]);

  const header = h(
    "div",
    { class: "run-header" },
    h("div", { class: "breadcrumb" }, h("a", { href: "#/experiments" }, "Experiments"), " / ", crumb),
    h("div", { class: "toolbar" }, h("h1", { "data-testid": "run-name" }, name), statusBadge(info.status)),
    h("dl", { class: "props run-meta", "data-testid": "run-meta" },
      ...meta.filter(([, v]) => v !== "").flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
  );

  const tabLinks = new Map<Tab, HTMLAnchorElement>();
  const tabBar = h("nav", { class: "tabs", role: "tablist" });
  const body = h("div", { class: "run-body" });
  const panes = new Map<Tab, HTMLElement>();
  let charts: ChartsTab | null = null;
  let artifacts: ArtifactBrowser | null = null;

  function pane(tab: Tab): HTMLElement {
    let p = panes.get(tab);
    if (p) return p;
    const q = current().query;
    if (tab === "overview") p = overview(run, q, setQuery, openMetric, openArtifact);
    else if (tab === "charts") {
      charts = chartsTab(run, q, setQuery);
      p = charts.el;
    } else {
      artifacts = artifactBrowser(info.run_id, q.get("path"), (path) => setQuery({ path }));
      p = artifacts.el;
    }
    p.dataset.tab = tab;
    panes.set(tab, p);
    body.append(p);
    return p;
  }

  function show(tab: Tab): void {
    setQuery({ tab: tab === "overview" ? "" : tab });
    const p = pane(tab);
    for (const [t, el] of panes) el.hidden = el !== p || t !== tab;
    for (const [t, a] of tabLinks) {
      a.classList.toggle("active", t === tab);
      a.setAttribute("aria-selected", String(t === tab));
    }
  }

  function openMetric(key: string): void {
    setQuery({ metrics: key, tab: "charts" });
    if (charts) charts.select([key]);
    show("charts");
  }

  function openArtifact(path: string): void {
    if (artifacts) {
      artifacts.destroy();
      artifacts.el.remove();
      panes.delete("artifacts");
      artifacts = null;
    }
    setQuery({ path });
    show("artifacts");
  }

  for (const t of TABS) {
    const a = h("a", { href: runHref(info.run_id, t.id === "overview" ? {} : { tab: t.id }), role: "tab", "data-tab": t.id }, t.label);
    a.addEventListener("click", (ev) => {
      ev.preventDefault();
      show(t.id);
    });
    // the address with the current selection, for opening in a new tab
    const refresh = () => {
      const q = Object.fromEntries(current().query);
      a.href = runHref(info.run_id, { ...q, tab: t.id === "overview" ? "" : t.id });
    };
    a.addEventListener("mouseenter", refresh);
    a.addEventListener("focus", refresh);
    tabLinks.set(t.id, a);
    tabBar.append(a);
  }

  const asked = query.get("tab");
  show(asked === "charts" || asked === "artifacts" ? asked : "overview");

  const el = h("section", { class: "page run-view", "data-run-id": info.run_id }, header, tabBar, body);
  return {
    el,
    title: name,
    destroy() {
      ctl.abort();
      charts?.destroy();
      artifacts?.destroy();
      clear(body);
    },
  };
}
