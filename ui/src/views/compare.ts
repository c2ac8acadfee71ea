// compare.ts -- runs side by side (#/compare?runs=a,b&metrics=loss&x=step):
// a table with a column per run (name, status, start, duration, every param
// with the differing ones marked, every latest metric), and below it one
// overlay chart per chosen metric with a series per run. Each run is read
// with mlflow/runs/get; an address naming more than 50 runs is refused.
import * as api from "../api";
import { h, fmtTime, fmtNumber, notice } from "../dom";
import { View, href, seg } from "../router";
import { ChartGrid, X_AXES, XAxis, parseXAxis, runsChart, colorOf, RunRef } from "../chart";
import { Run, runName, statusBadge, runDuration, runHref, metricKeys, queryKeeper } from "./run";

const MAX_RUNS = 50;
const CONCURRENT_GETS = 4;

/** Runs by id, a few requests at a time; a run that cannot be read is reported, not fatal. */
async function fetchRuns(ids: string[], signal: AbortSignal): Promise<{ runs: Run[]; errors: string[] }> {
  const out: (Run | null)[] = new Array(ids.length).fill(null);
  const errors: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      try {
        out[i] = (await api.get<{ run: Run }>("mlflow/runs/get", { run_id: ids[i] }, signal)).run;
      } catch (e) {
        if (signal.aborted) throw e;
        errors.push(`Run ${ids[i]}: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_GETS, ids.length) }, worker));
  return { runs: out.filter((r): r is Run => r !== null), errors };
}

function compareTable(runs: Run[], ids: string[], onlyDiff: boolean): HTMLTableElement {
  const values = <T extends { key: string }>(pick: (r: Run) => T[] | undefined) => {
    const keys = [...new Set(runs.flatMap((r) => (pick(r) ?? []).map((x) => x.key)))].sort();
    const maps = runs.map((r) => new Map((pick(r) ?? []).map((x) => [x.key, x])));
    return { keys, maps };
  };
  const without = (id: string) => href("/compare", { runs: ids.filter((x) => x !== id).join(",") });

  const head = h(
    "tr",
    null,
    h("th", null, ""),
    ...runs.map((r, i) =>
      h(
        "th",
        { "data-run-id": r.info.run_id, style: `border-top: 3px solid ${colorOf(i)}` },
        h("a", { href: runHref(r.info.run_id) }, runName(r)),
        " ",
        h("a", { href: without(r.info.run_id), class: "remove small", title: "Leave this run out", "aria-label": `Leave ${runName(r)} out` }, "×"),
      ),
    ),
  );
  const row = (label: string, cells: (Node | string)[], attrs?: Record<string, string>) =>
    h("tr", attrs ?? null, h("th", { scope: "row" }, label), ...cells.map((c) => h("td", null, c)));
  const section = (label: string) =>
    h("tr", { class: "section" }, h("th", { colspan: runs.length + 1 }, label));

  const body = h(
    "tbody",
    null,
    row("Status", runs.map((r) => statusBadge(r.info.status))),
    row("Experiment", runs.map((r) =>
      h("a", { href: href("/experiments/" + seg(r.info.experiment_id)), "data-experiment-id": r.info.experiment_id }, r.info.experiment_id))),
    row("Start", runs.map((r) => fmtTime(Number(r.info.start_time ?? 0) || undefined))),
    row("Duration", runs.map((r) => runDuration(r.info))),
  );

  const params = values((r) => r.data.params);
  body.append(section(`Parameters (${params.keys.length})`));
  for (const k of params.keys) {
    const vals = params.maps.map((m) => m.get(k)?.value);
    const differs = vals.some((v) => v !== vals[0]);
    body.append(row(k, vals.map((v) => (v === undefined ? h("span", { class: "muted" }, "—") : v)),
      { "data-param": k, class: differs ? "diff" : "same" }));
  }
  const metrics = values((r) => r.data.metrics);
  body.append(section(`Metrics (${metrics.keys.length})`));
  for (const k of metrics.keys) {
    const vals = metrics.maps.map((m) => m.get(k)?.value);
    const differs = vals.some((v) => String(v) !== String(vals[0]));
    body.append(row(k, vals.map((v) => (v === undefined ? h("span", { class: "muted" }, "—") : fmtNumber(v))),
      { "data-metric": k, class: differs ? "differs" : "same" }));
  }
  return h(
    "table",
    { class: `grid compare${onlyDiff ? " only-diff" : ""}`, "data-testid": "compare" },
    h("thead", null, head),
    body,
  );
}

export async function compareView(_p: Record<string, string>, query: URLSearchParams): Promise<View> {
  const ctl = new AbortController();
  const setQuery = queryKeeper();
  const ids = [...new Set((query.get("runs") ?? "").split(",").map((s) => s.trim()).filter(Boolean))];
  const page = h("section", { class: "page compare-view" });
  const title = h("div", { class: "toolbar" }, h("h1", null, "Compare runs"));
  page.append(title);
  if (!ids.length) {
    page.append(notice("info", "No runs to compare: choose runs in an experiment's run list, or open #/compare?runs=<id>,<id>."));
    return { el: page, title: "Compare runs" };
  }
  if (ids.length > MAX_RUNS) {
    page.append(notice("error", `Comparing is limited to ${MAX_RUNS} runs; this address names ${ids.length}. Choose fewer runs.`));
    return { el: page, title: "Compare runs" };
  }
  const { runs, errors } = await fetchRuns(ids, ctl.signal);
  for (const e of errors) page.append(notice("error", e));
  if (!runs.length) return { el: page, title: "Compare runs", destroy: () => ctl.abort() };
  title.firstElementChild!.textContent = `Compare ${runs.length} runs`;
  const exps = [...new Set(runs.map((r) => r.info.experiment_id))];
  if (exps.length === 1) {
    const e = exps[0];
    page.insertBefore(h("div", { class: "breadcrumb" }, h("a", { href: "#/experiments" }, "Experiments"), " / ",
      h("a", { href: href("/experiments/" + seg(e)), "data-experiment-id": e }, `Experiment ${e}`)), title);
  }

  // experiment names in place of ids, once known
  for (const e of exps)
    api.get<{ experiment: { name: string } }>("mlflow/experiments/get", { experiment_id: e }, ctl.signal)
      .then((r) => {
        for (const a of page.querySelectorAll<HTMLElement>("a[data-experiment-id]"))
          if (a.dataset.experimentId === e) a.textContent = r.experiment.name;
      })
      .catch(() => {});

  // the table
  const onlyDiff = h("input", { type: "checkbox", "data-testid": "only-diff" });
  onlyDiff.checked = query.get("diff") === "1";
  const table = compareTable(runs, ids, onlyDiff.checked);
  onlyDiff.addEventListener("change", () => {
    setQuery({ diff: onlyDiff.checked ? "1" : "" });
    table.classList.toggle("only-diff", onlyDiff.checked);
  });

  // the charts
  const keys = metricKeys(runs);
  const known = new Set(keys);
  const asked = query.get("metrics");
  let selected = asked !== null ? asked.split(",").filter((k) => known.has(k)) : keys.slice(0, 1);
  let x: XAxis = parseXAxis(query.get("x"));
  const refs: RunRef[] = runs.map((r, i) => ({
    id: r.info.run_id,
    label: runName(r),
    color: colorOf(i),
    start: Number(r.info.start_time ?? 0),
  }));
  const grid = new ChartGrid((k, signal) =>
    runsChart(k, refs.filter((_, i) => runs[i].data.metrics?.some((m) => m.key === k)), x, signal));
  const boxes = new Map<string, HTMLInputElement>();
  const picker = h("div", { class: "metric-picker", "data-testid": "metric-picker" });
  for (const k of keys) {
    const box = h("input", { type: "checkbox", value: k });
    box.checked = selected.includes(k);
    box.addEventListener("change", () => {
      selected = keys.filter((key) => boxes.get(key)!.checked);
      sync();
    });
    boxes.set(k, box);
    picker.append(h("label", { class: "check", "data-key": k }, box, k));
  }
  const xSel = h("select", { "aria-label": "X axis", "data-testid": "x-axis" },
    ...X_AXES.map((a) => h("option", { value: a.value, selected: a.value === x }, a.label)));
  xSel.addEventListener("change", () => {
    x = parseXAxis(xSel.value);
    setQuery({ x: x === "step" ? "" : x });
    grid.setX(x);
  });

  function sync(): void {
    setQuery({ metrics: selected.join(",") });
    grid.show(selected);
  }
  sync();

  page.append(
    h("div", { class: "toolbar" }, h("label", { class: "check" }, onlyDiff, "Only differences")),
    h("div", { class: "scroll-x" }, table),
    h("h2", null, "Metric charts"),
    keys.length
      ? h("div", { class: "page" },
          h("div", { class: "toolbar" }, h("label", null, "X axis ", xSel)),
          picker,
          grid.el)
      : notice("info", "These runs have no metrics to chart."),
  );
  return {
    el: page,
    title: `Compare ${runs.length} runs`,
    destroy() {
      ctl.abort();
      grid.destroy();
    },
  };
}
