// deployments.ts -- models served by keel server: the list, and one
// deployment with the model version it serves now, its traffic (request
// rate and latency percentiles computed from keel's /metrics, refreshed
// every 5 s while the page is open) and its recent predictions from the
// prediction log, looked up by request id from the address.
import * as api from "../api";
import { h, clear, fmtTime, fmtNumber, notice } from "../dom";
import { View, href, replaceQuery, seg } from "../router";
import { parseProm, sum, select, buckets, bucketDelta, quantile, topBound, Bucket, Sample } from "../prom";

interface Deployment {
  name: string;
  model_uri: string;
  creation_timestamp?: number;
  last_updated_timestamp?: number;
  status: string;
  prediction_log?: string;
  max_batch_rows?: number;
  max_batch_wait_us?: number;
  model_name?: string;
  model_version?: string;
  run_id?: string;
  flavor?: string;
  model_class?: string;
  served_model_uri?: string;
  error?: string;
}

interface Prediction {
  request_id: string;
  timestamp_ms: number;
  deployment?: string;
  model_uri?: string;
  model_name?: string;
  model_version?: string;
  run_id?: string;
  inputs?: { columns?: string[]; data?: unknown[] };
  outputs?: unknown[];
  latency_ms?: number;
  status?: number;
  error?: string | null;
}

const REFRESH_MS = 5000;
const LIMIT = 50;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

function statusBadge(status: string): HTMLElement {
  const kind = status === "READY" ? " ok" : status === "LOADING" ? " warn" : " bad";
  return h("span", { class: "badge" + kind }, status);
}

function servedModel(d: { model_name?: string; model_version?: string }): Node {
  if (d.model_name && d.model_version)
    return h("a", { href: href("/models/" + seg(d.model_name) + "/versions/" + seg(d.model_version)) },
      `${d.model_name} v${d.model_version}`);
  if (d.model_name) return h("a", { href: href("/models/" + seg(d.model_name)) }, d.model_name);
  return h("span", { class: "muted" }, "not a registered version");
}

function fmtSeconds(s: number): string {
  if (!isFinite(s)) return "–";
  if (s < 1e-3) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 0.01 ? 2 : 1)} ms`;
  return `${s.toFixed(2)} s`;
}

/** Records in log order, newest first: by time, the later logged first among equal times. */
function newestFirst(rows: Prediction[]): Prediction[] {
  return rows
    .map((r, i) => ({ r, i }))
    .sort((a, b) => b.r.timestamp_ms - a.r.timestamp_ms || b.i - a.i)
    .map((x) => x.r);
}

function excerpt(v: unknown, n: number): string {
  let t: string;
  try {
    t = JSON.stringify(v) ?? "";
  } catch {
    t = String(v);
  }
  return t.length > n ? t.slice(0, n - 1) + "…" : t;
}

// ---- the list ------------------------------------------------------------------

export function deploymentsView(): View {
  const ctl = new AbortController();
  const body = h("tbody");
  const status = h("div", { class: "status" });

  async function load(): Promise<void> {
    status.replaceChildren();
    try {
      const r = await api.get<{ deployments?: Deployment[] }>("keel/deployments/list", undefined, ctl.signal);
      clear(body);
      for (const d of r.deployments ?? []) body.append(row(d));
      if (!body.firstChild)
        status.append(notice("info", "No deployments. Create one with `keel deployments create` or the REST API."));
    } catch (e) {
      if (!ctl.signal.aborted) status.append(notice("error", message(e)));
    }
  }

  function row(d: Deployment): HTMLTableRowElement {
    return h(
      "tr",
      { "data-deployment-name": d.name, "data-status": d.status },
      h("td", null, h("a", { href: href("/deployments/" + seg(d.name)) }, d.name)),
      h("td", { class: "mono", title: d.model_uri }, d.model_uri),
      h("td", null, servedModel(d)),
      h("td", null, statusBadge(d.status)),
      h("td", null, d.prediction_log ?? ""),
      h("td", null, fmtTime(d.last_updated_timestamp ?? d.creation_timestamp)),
    );
  }

  void load();
  const el = h(
    "section",
    { class: "page" },
    h("div", { class: "toolbar" }, h("h1", null, "Deployments"), h("span", { class: "spacer" }),
      h("button", { onclick: () => void load() }, "Refresh")),
    status,
    h("table", { class: "grid", "data-testid": "deployments" },
      h("thead", null, h("tr", null, h("th", null, "Name"), h("th", null, "Model URI"), h("th", null, "Serving"),
        h("th", null, "Status"), h("th", null, "Prediction log"), h("th", null, "Last updated"))),
      body),
  );
  return { el, title: "Deployments", destroy: () => ctl.abort() };
}

// ---- one deployment ---------------------------------------------------------------

interface Snapshot {
  at: number; // ms, client clock
  requests: number;
  byClass: Record<string, number>;
  buckets: Bucket[];
  latencySum: number;
  modelSum: number;
  modelCount: number;
}

function snapshot(samples: Sample[], name: string): Snapshot | null {
  const me = { deployment: name };
  if (!select(samples, "keel_deployment_requests_total", me).length) return null;
  const byClass: Record<string, number> = {};
  for (const s of select(samples, "keel_deployment_requests_total", me))
    byClass[s.labels.code ?? "?"] = s.value;
  return {
    at: Date.now(),
    requests: sum(samples, "keel_deployment_requests_total", me),
    byClass,
    buckets: buckets(samples, "keel_deployment_request_duration_seconds", me),
    latencySum: sum(samples, "keel_deployment_request_duration_seconds_sum", me),
    modelSum: sum(samples, "keel_deployment_model_seconds_sum", me),
    modelCount: sum(samples, "keel_deployment_model_seconds_count", me),
  };
}

export async function deploymentView(p: Record<string, string>, query: URLSearchParams): Promise<View> {
  const ctl = new AbortController();
  const name = p.name;
  const d = (await api.get<{ deployment: Deployment }>("keel/deployments/get", { name }, ctl.signal)).deployment;

  // ---- what it serves ----
  const statusEl = h("span", { "data-testid": "deployment-status", "data-status": d.status }, statusBadge(d.status));
  const serving = h("dd", { "data-testid": "served-version" }, servedModel(d));
  const errorBox = h("div");
  if (d.error)
    errorBox.append(notice("error", (d.status === "READY" ? "The last load failed (the previous model keeps serving): " :
      "The model could not be loaded: ") + d.error));
  const props = h(
    "dl",
    { class: "props" },
    h("dt", null, "Model URI"), h("dd", { class: "mono" }, d.model_uri),
    h("dt", null, "Serving"), serving,
    d.served_model_uri && d.served_model_uri !== d.model_uri
      ? [h("dt", null, "Resolved to"), h("dd", { class: "mono" }, d.served_model_uri)] : null,
    d.run_id ? [h("dt", null, "Source run"), h("dd", null, h("a", { href: href("/runs/" + seg(d.run_id)) }, d.run_id))] : null,
    d.flavor ? [h("dt", null, "Flavor"), h("dd", null, d.flavor, d.model_class ? ` (${d.model_class})` : "")] : null,
    h("dt", null, "Prediction log"), h("dd", null, d.prediction_log ?? ""),
    h("dt", null, "Batching"), h("dd", null, d.max_batch_rows
      ? `up to ${d.max_batch_rows} rows, waiting at most ${d.max_batch_wait_us ?? 0} µs` : "off"),
    h("dt", null, "Created"), h("dd", null, fmtTime(d.creation_timestamp)),
    h("dt", null, "Last updated"), h("dd", null, fmtTime(d.last_updated_timestamp)),
    h("dt", null, "Scoring"), h("dd", { class: "mono" }, `POST deployments/${d.name}/invocations`),
  );

  // ---- traffic, from /metrics ----
  const rateEl = h("span", { "data-testid": "request-rate", class: "stat-value" });
  const p50El = h("span", { "data-testid": "latency-p50", class: "stat-value" });
  const p99El = h("span", { "data-testid": "latency-p99", class: "stat-value" });
  const totalEl = h("span", { "data-testid": "request-total", class: "stat-value" });
  const modelEl = h("span", { "data-testid": "model-time", class: "stat-value" });
  const trafficNote = h("div", { class: "muted small" }, "Reading keel's metrics…");
  const trafficStatus = h("div");
  const tile = (label: string, value: HTMLElement) => h("div", { class: "stat" }, h("div", { class: "stat-label" }, label), value);
  const traffic = h("div", { class: "stats" },
    tile("Requests/s", rateEl), tile("Latency p50", p50El), tile("Latency p99", p99El),
    tile("Requests answered", totalEl), tile("Mean time in the model", modelEl));

  let prev: Snapshot | null = null;
  let timer = 0;
  let stopped = false;

  function showLatency(bs: Bucket[], scope: string): void {
    const top = topBound(bs);
    const show = (el: HTMLElement, q: number) => {
      const v = quantile(q, bs);
      el.textContent = isNaN(v) ? "–" : v >= top ? `> ${fmtSeconds(top)}` : fmtSeconds(v);
    };
    show(p50El, 0.5);
    show(p99El, 0.99);
    trafficNote.textContent = `Refreshed every ${REFRESH_MS / 1000} s. Percentiles estimated from the latency histogram ${scope}.`;
  }

  async function tick(): Promise<void> {
    try {
      const r = await api.raw("metrics", { signal: ctl.signal });
      const samples = parseProm(await r.text());
      if (stopped) return;
      trafficStatus.replaceChildren();
      const info = select(samples, "keel_deployment_model_info", { deployment: name })[0];
      if (info) {
        const st = info.labels.status ?? d.status;
        if (statusEl.dataset.status !== st) {
          statusEl.dataset.status = st;
          statusEl.replaceChildren(statusBadge(st));
        }
        const v = { model_name: info.labels.model_name || undefined, model_version: info.labels.model_version || undefined };
        if (v.model_version !== d.model_version || v.model_name !== d.model_name) {
          d.model_name = v.model_name;
          d.model_version = v.model_version;
          serving.replaceChildren(servedModel(v));
        }
      }
      const now = snapshot(samples, name);
      if (!now) {
        trafficNote.textContent = "keel's metrics do not list this deployment (yet).";
        return;
      }
      const by = Object.entries(now.byClass).filter(([, n]) => n > 0).map(([c, n]) => `${n} ${c}`).join(", ");
      totalEl.textContent = fmtNumber(now.requests) + (by ? ` (${by})` : "");
      totalEl.dataset.value = String(now.requests);
      modelEl.textContent = now.modelCount > 0 ? fmtSeconds(now.modelSum / now.modelCount) : "–";
      if (prev && now.requests >= prev.requests && now.at > prev.at) {
        const secs = (now.at - prev.at) / 1000;
        const rate = (now.requests - prev.requests) / secs;
        rateEl.textContent = `${rate < 10 ? rate.toFixed(2) : rate.toFixed(1)} req/s`;
        rateEl.dataset.rate = String(rate);
        rateEl.title = `${now.requests - prev.requests} requests in the last ${secs.toFixed(1)} s`;
        const delta = bucketDelta(now.buckets, prev.buckets);
        if (delta.length && delta[delta.length - 1].count > 0)
          showLatency(delta, `over the last ${secs.toFixed(0)} s`);
        else showLatency(now.buckets, "of every request since the server started (none in the last interval)");
      } else {
        showLatency(now.buckets, "of every request since the server started");
        trafficNote.textContent += " The request rate needs a second reading.";
      }
      prev = now;
    } catch (e) {
      if (!ctl.signal.aborted) trafficStatus.replaceChildren(notice("error", "Metrics unavailable: " + message(e)));
    } finally {
      if (!stopped) timer = window.setTimeout(() => void tick(), REFRESH_MS);
    }
  }

  // ---- predictions ----
  const requestInput = h("input", {
    type: "search",
    name: "request_id",
    placeholder: "Request id (X-Request-Id)",
    "aria-label": "Request id",
    class: "mono",
    value: query.get("request_id") ?? "",
  });
  const versionInput = h("input", {
    name: "model_version",
    placeholder: "Version",
    "aria-label": "Model version",
    size: 9,
    value: query.get("version") ?? "",
  });
  const predBody = h("tbody");
  const predStatus = h("div");
  const predCaption = h("div", { class: "muted small", "data-testid": "predictions-caption" });
  let predGeneration = 0;

  async function queryLog(q: Record<string, string | number | undefined>): Promise<Prediction[]> {
    const r = await api.get<{ predictions?: Prediction[] }>("keel/predictions",
      { deployment: name, max_results: LIMIT, ...q }, ctl.signal);
    return r.predictions ?? [];
  }

  /** The newest records up to LIMIT (keel reads the log back from its end). */
  async function recent(version: string | undefined): Promise<{ rows: Prediction[]; caption: string }> {
    const rows = await queryLog({ model_version: version, order: "desc" });
    const what = version ? ` of version ${version}` : "";
    const caption = !rows.length ? "" : rows.length < LIMIT ? `All ${rows.length} predictions${what} in the log.`
      : `The ${rows.length} most recent predictions${what}.`;
    return { rows, caption };
  }

  async function loadPredictions(): Promise<void> {
    const mine = ++predGeneration;
    const rid = requestInput.value.trim();
    const version = versionInput.value.trim() || undefined;
    predStatus.replaceChildren(h("span", { class: "muted" }, "Loading…"));
    try {
      let rows: Prediction[];
      let caption: string;
      if (rid) {
        rows = newestFirst(await queryLog({ request_id: rid, model_version: version }));
        caption = rows.length ? `The prediction with request id ${rid}.` : "";
      } else {
        ({ rows, caption } = await recent(version));
      }
      if (mine !== predGeneration) return;
      predStatus.replaceChildren();
      clear(predBody);
      for (const r of rows) predBody.append(predictionRow(r));
      predCaption.textContent = caption;
      if (!rows.length)
        predStatus.append(notice("info", rid ? `No prediction with request id ${rid} in this deployment's log.` :
          version ? `No prediction of version ${version} in the log.` : "No predictions logged yet."));
    } catch (e) {
      if (ctl.signal.aborted || mine !== predGeneration) return;
      predStatus.replaceChildren(notice("error", message(e)));
    }
  }

  function lookUp(rid: string): void {
    requestInput.value = rid;
    replaceQuery({ request_id: rid });
    void loadPredictions();
  }

  function predictionRow(r: Prediction): HTMLTableRowElement {
    const ok = r.status !== undefined && r.status >= 200 && r.status < 300;
    const rows = r.inputs?.data?.length ?? 0;
    const inputsFull = excerpt({ columns: r.inputs?.columns, data: r.inputs?.data }, 4000);
    const idLink = h("a", { href: href("/deployments/" + seg(name), { request_id: r.request_id }), class: "mono" }, r.request_id);
    idLink.addEventListener("click", (ev) => {
      ev.preventDefault();
      lookUp(r.request_id);
    });
    return h(
      "tr",
      { "data-request-id": r.request_id },
      h("td", null, fmtTime(r.timestamp_ms)),
      h("td", null, idLink),
      h("td", null, r.model_version ? (r.model_name ? servedModel(r) : r.model_version) : h("span", { class: "muted" }, "none")),
      h("td", { title: r.error ?? "" }, h("span", { class: ok ? "badge ok" : "badge bad" }, String(r.status ?? "")),
        r.error ? h("span", { class: "muted" }, " " + excerpt(r.error, 60).replace(/^"|"$/g, "")) : ""),
      h("td", { class: "num" }, r.latency_ms !== undefined ? `${fmtNumber(Math.round(r.latency_ms * 100) / 100)} ms` : ""),
      h("td", { class: "mono excerpt", title: inputsFull },
        h("div", null, `${rows} row${rows === 1 ? "" : "s"}: `, excerpt(r.inputs?.data, 80))),
      h("td", { class: "mono excerpt", title: excerpt(r.outputs, 4000) }, h("div", null, excerpt(r.outputs, 60))),
    );
  }

  const searchForm = h("form", { class: "inline" }, requestInput, versionInput,
    h("button", { type: "submit", class: "primary" }, "Search"),
    h("button", {
      type: "button",
      onclick: () => {
        requestInput.value = "";
        versionInput.value = "";
        replaceQuery({ request_id: "", version: "" });
        void loadPredictions();
      },
    }, "Clear"),
    h("button", { type: "button", onclick: () => void loadPredictions() }, "Refresh"));
  searchForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    replaceQuery({ request_id: requestInput.value.trim(), version: versionInput.value.trim() });
    void loadPredictions();
  });

  void tick();
  void loadPredictions();

  const el = h(
    "section",
    { class: "page", "data-deployment": name },
    h("div", { class: "breadcrumb" }, h("a", { href: href("/deployments") }, "Deployments"), " /"),
    h("div", { class: "toolbar" }, h("h1", null, name), statusEl),
    errorBox,
    props,
    h("h2", null, "Traffic"),
    trafficStatus,
    traffic,
    trafficNote,
    h("h2", null, "Recent predictions"),
    searchForm,
    predCaption,
    predStatus,
    h("table", { class: "grid", "data-testid": "predictions" },
      h("thead", null, h("tr", null, h("th", null, "Time"), h("th", null, "Request id"), h("th", null, "Version"),
        h("th", null, "Status"), h("th", null, "Latency"), h("th", null, "Inputs"), h("th", null, "Outputs"))),
      predBody),
  );
  return {
    el,
    title: name,
    destroy: () => {
      stopped = true;
      clearTimeout(timer);
      ctl.abort();
    },
  };
}
