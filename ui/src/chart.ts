// chart.ts -- metric charts for the run and compare views. A metric's
// history is read page by page (mlflow/metrics/get-history, MLflow 3 paging)
// into typed arrays, one column each for step, time and value, so no object
// per point outlives its page; uPlot draws the columns directly and thins
// dense lines per pixel, which keeps 100,000 points a series smooth.
// Drag selects a range to zoom into, double-click zooms out again, and the
// legend shows the values under the cursor.
//
// Test hooks on each chart: data-testid="chart", data-metric, data-points
// (points drawn, all series), data-x (the x axis drawn), data-x-range (the
// x range shown, "min,max") and data-rendered="1" once every series is
// complete and drawn. Timings go to the Performance
// timeline as measures named "keel-history <key>" and "keel-draw <key>".
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import * as api from "./api";
import { h, fmtNumber, fmtTime } from "./dom";

/** The x axis: step, seconds since the run started, or wall-clock time. */
export type XAxis = "step" | "time" | "wall";

export const X_AXES: { value: XAxis; label: string }[] = [
  { value: "step", label: "Step" },
  { value: "time", label: "Relative time" },
  { value: "wall", label: "Wall time" },
];

export function parseXAxis(v: string | null): XAxis {
  return v === "time" || v === "wall" ? v : "step";
}

const PAGE = 25000;
const CONCURRENT_HISTORIES = 3;

const PALETTE = [
  "#1f5fbf", "#d9480f", "#2b8a3e", "#ae3ec9", "#c92a2a", "#0b7285", "#e67700", "#5f3dc4",
  "#087f5b", "#a61e4d", "#495057", "#364fc7",
];

/** A distinct color for the i-th series. */
export function colorOf(i: number): string {
  if (i < PALETTE.length) return PALETTE[i];
  return `hsl(${Math.round((i * 137.508) % 360)}, 65%, 42%)`;
}

/** One metric's history as columns. Values that are not finite (NaN, ±inf)
 * cannot be drawn and are counted in `skipped` instead. */
export class History {
  n = 0;
  skipped = 0;
  done = false;
  step = new Float64Array(1024);
  time = new Float64Array(1024);
  value = new Float64Array(1024);

  push(step: number, time: number, value: number): void {
    if (!isFinite(value)) {
      this.skipped++;
      return;
    }
    if (this.n === this.value.length) {
      const grow = (a: Float64Array) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.step = grow(this.step);
      this.time = grow(this.time);
      this.value = grow(this.value);
    }
    this.step[this.n] = step;
    this.time[this.n] = time;
    this.value[this.n] = value;
    this.n++;
  }
}

// Histories are read a few at a time, first asked first served: the server
// has other users and a page of 25,000 points is a few MB of JSON.
let running = 0;
const waiting: (() => void)[] = [];

function acquire(signal: AbortSignal): Promise<() => void> {
  const release = () => {
    running--;
    const next = waiting.shift();
    if (next) next();
  };
  if (running < CONCURRENT_HISTORIES) {
    running++;
    return Promise.resolve(release);
  }
  return new Promise((resolve, reject) => {
    const go = () => {
      signal.removeEventListener("abort", drop);
      running++;
      resolve(release);
    };
    const drop = () => {
      const i = waiting.indexOf(go);
      if (i >= 0) waiting.splice(i, 1);
      reject(new DOMException("aborted", "AbortError"));
    };
    if (signal.aborted) return drop();
    signal.addEventListener("abort", drop, { once: true });
    waiting.push(go);
  });
}

interface HistoryPage {
  metrics?: { value: number | string; timestamp: number | string; step: number | string }[];
  next_page_token?: string;
}

/** Reads a metric's whole history into `hist`, a page at a time, calling
 * `onPage` after each page. */
export async function loadHistory(
  runId: string,
  key: string,
  hist: History,
  signal: AbortSignal,
  onPage?: (hist: History) => void,
): Promise<History> {
  const release = await acquire(signal);
  const t0 = performance.now();
  // where the time goes: requests with JSON parsing, and copying into columns
  const detail = { pages: 0, points: 0, fetchMs: 0, copyMs: 0 };
  try {
    let token: string | undefined;
    do {
      const a = performance.now();
      const r = await api.get<HistoryPage>(
        "mlflow/metrics/get-history",
        { run_id: runId, metric_key: key, max_results: PAGE, page_token: token },
        signal,
      );
      const b = performance.now();
      const ms = r.metrics ?? [];
      for (let i = 0; i < ms.length; i++) {
        const m = ms[i];
        hist.push(Number(m.step), Number(m.timestamp), Number(m.value));
      }
      const c = performance.now();
      detail.pages++;
      detail.fetchMs += b - a;
      detail.copyMs += c - b;
      token = r.next_page_token;
      if (!ms.length) break; // a page with nothing in it: do not loop forever
      if (token) onPage?.(hist);
    } while (token);
    hist.done = true;
    detail.points = hist.n;
    performance.measure(`keel-history ${key}`, { start: t0, end: performance.now(), detail });
    onPage?.(hist);
    return hist;
  } finally {
    release();
  }
}

/** A series to draw: a run's history of the chart's metric. */
export interface Line {
  label: string;
  color: string;
  hist: History;
  /** the run's start (ms since the epoch), for relative time */
  start: number;
}

type Column = [x: Float64Array, y: Float64Array];

function xColumn(line: Line, x: XAxis): Float64Array {
  const { hist } = line;
  if (x === "step") return hist.step.subarray(0, hist.n);
  const out = new Float64Array(hist.n);
  const t = hist.time;
  // relative to the run's start, or to the first point when the start is unknown or later
  let t0 = line.start;
  if (x === "time") {
    let first = Infinity;
    for (let i = 0; i < hist.n; i++) if (t[i] < first) first = t[i];
    if (!(t0 > 0 && t0 <= first)) t0 = hist.n ? first : 0;
  } else {
    t0 = 0;
  }
  for (let i = 0; i < hist.n; i++) out[i] = (t[i] - t0) / 1000;
  return out;
}

/** x ascending, as uPlot needs (histories come in time order, steps may not be). */
function sorted(x: Float64Array, y: Float64Array): Column {
  let ok = true;
  for (let i = 1; i < x.length; i++)
    if (x[i] < x[i - 1]) {
      ok = false;
      break;
    }
  if (ok) return [x, y];
  const idx = new Uint32Array(x.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  idx.sort((a, b) => x[a] - x[b] || a - b);
  const xs = new Float64Array(x.length);
  const ys = new Float64Array(x.length);
  for (let i = 0; i < idx.length; i++) {
    xs[i] = x[idx[i]];
    ys[i] = y[idx[i]];
  }
  return [xs, ys];
}

function sameX(a: Float64Array, b: Float64Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** At most 2*buckets points of a line, the lowest and highest of each of
 * `buckets` equal spans of x, in x order: the line's shape at any width up
 * to `buckets` pixels. */
function thin([x, y]: Column, buckets: number): Column {
  const n = x.length;
  if (n <= 2 * buckets) return [x, y];
  const xs = new Float64Array(2 * buckets + 2);
  const ys = new Float64Array(2 * buckets + 2);
  const x0 = x[0];
  const span = x[n - 1] - x0 || 1;
  let o = 0;
  let i = 0;
  while (i < n) {
    const b = Math.min(buckets - 1, Math.floor(((x[i] - x0) / span) * buckets));
    let lo = i;
    let hi = i;
    let j = i + 1;
    for (; j < n && Math.min(buckets - 1, Math.floor(((x[j] - x0) / span) * buckets)) === b; j++) {
      if (y[j] < y[lo]) lo = j;
      if (y[j] > y[hi]) hi = j;
    }
    const [a, c] = lo <= hi ? [lo, hi] : [hi, lo];
    xs[o] = x[a];
    ys[o++] = y[a];
    if (c !== a) {
      xs[o] = x[c];
      ys[o++] = y[c];
    }
    i = j;
  }
  return [xs.subarray(0, o), ys.subarray(0, o)];
}

// Joining lines with different x costs (union of x) * lines cells; past this
// many, each line is thinned first (see thin()).
const JOIN_CELLS = 4_000_000;

/** uPlot's table: one x column and a y column per line. Lines with other x
 * values are joined on the union of x, with gaps (null) where a line has no
 * point; the number of points drawn comes back with it. */
function table(cols: Column[]): { data: uPlot.AlignedData; points: number } {
  let points = cols.reduce((s, c) => s + c[0].length, 0);
  if (!cols.length) return { data: [new Float64Array(0)], points: 0 };
  const x0 = cols[0][0];
  if (cols.every((c) => sameX(c[0], x0))) return { data: [x0, ...cols.map((c) => c[1])], points };
  if (points * cols.length > JOIN_CELLS) {
    // many long lines on different x (e.g. runs by time): thin each to far
    // more points than pixels, so the join stays within JOIN_CELLS
    const buckets = Math.max(1000, Math.floor(JOIN_CELLS / (2 * cols.length * cols.length)));
    cols = cols.map((c) => thin(c, buckets));
    points = cols.reduce((s, c) => s + c[0].length, 0);
  }
  const all = new Float64Array(points);
  let o = 0;
  for (const [x] of cols) {
    all.set(x, o);
    o += x.length;
  }
  all.sort();
  let u = 0;
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[u - 1]) all[u++] = all[i];
  const xs = all.subarray(0, u);
  let drawn = 0;
  const ys = cols.map(([x, y]) => {
    const out: (number | null)[] = new Array(u).fill(null);
    let j = 0;
    for (let i = 0; i < x.length; i++) {
      while (xs[j] < x[i]) j++;
      if (out[j] === null) drawn++;
      out[j] = y[i]; // a repeated x: the later point wins
    }
    return out;
  });
  return { data: [xs, ...ys], points: drawn };
}

function fmtSeconds(s: number): string {
  const a = Math.abs(s);
  if (a < 120) return `${fmtNumber(s)} s`;
  if (a < 7200) return `${fmtNumber(Math.round((s / 60) * 100) / 100)} min`;
  return `${fmtNumber(Math.round((s / 3600) * 100) / 100)} h`;
}

// tick spacings for relative time: round seconds, minutes, hours and days
const SECOND_INCRS = [
  0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30,
  60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 432000, 864000,
];

const HEIGHT = 260;

/** One chart: a metric, one series per line, redrawn as histories grow. */
export class MetricChart {
  readonly el: HTMLElement;
  private readonly box: HTMLElement;
  private readonly status: HTMLElement;
  private plot: uPlot | null = null;
  private lines: Line[] = [];
  private x: XAxis;
  private frame = 0;
  private drawStart = 0;
  private complete = false;
  private readonly resize: ResizeObserver;

  constructor(readonly metric: string, x: XAxis, title?: Node) {
    this.x = x;
    this.box = h("div", { class: "chart-plot" });
    this.status = h("div", { class: "chart-status muted small" }, "Loading…");
    this.el = h(
      "div",
      { class: "chart-card", "data-testid": "chart", "data-metric": metric, "data-points": "0", "data-x": x },
      h("div", { class: "chart-head" }, h("h3", null, title ?? metric), this.status),
      this.box,
    );
    this.resize = new ResizeObserver(() => {
      const w = this.box.clientWidth;
      if (!w) return;
      if (this.plot) {
        if (Math.abs(this.plot.width - w) > 1) this.plot.setSize({ width: w, height: HEIGHT });
      } else this.redraw();
    });
    this.resize.observe(this.box);
  }

  /** Sets the series; call `redraw()` (or let a history page do it). */
  setLines(lines: Line[]): void {
    if (lines.length !== this.lines.length) this.dropPlot();
    this.lines = lines;
    this.redraw();
  }

  setX(x: XAxis): void {
    if (x === this.x) return;
    this.x = x;
    this.dropPlot();
    this.redraw();
  }

  /** Shows why a chart cannot be drawn. */
  fail(message: string): void {
    this.status.textContent = message;
    this.status.classList.add("error");
  }

  /** Redraws at the next frame (many pages in one frame cost one draw). */
  redraw(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  destroy(): void {
    cancelAnimationFrame(this.frame);
    this.resize.disconnect();
    this.dropPlot();
  }

  private dropPlot(): void {
    this.plot?.destroy();
    this.plot = null;
    this.el.removeAttribute("data-rendered");
  }

  private draw(): void {
    const width = this.box.clientWidth;
    if (!width || !this.lines.length) return;
    this.drawStart = performance.now();
    const cols = this.lines.map((l) => sorted(xColumn(l, this.x), l.hist.value.subarray(0, l.hist.n)));
    const { data, points } = table(cols);
    this.complete = this.lines.every((l) => l.hist.done);
    this.el.dataset.points = String(points);
    const loaded = this.lines.reduce((s, l) => s + l.hist.n, 0);
    const skipped = this.lines.reduce((s, l) => s + l.hist.skipped, 0);
    if (!this.status.classList.contains("error"))
      this.status.textContent =
        (this.complete ? `${loaded.toLocaleString()} points` : `Loading… ${loaded.toLocaleString()} points so far`) +
        (skipped ? `; ${skipped.toLocaleString()} not finite, not drawn` : "") +
        (points < loaded ? `; ${points.toLocaleString()} drawn in the overlay` : "") +
        (this.complete && loaded ? " · drag to zoom, double-click to reset" : "");
    if (this.plot) this.plot.setData(data);
    else this.plot = new uPlot(this.options(width), data, this.box);
  }

  private options(width: number): uPlot.Options {
    const x = this.x;
    const many = this.lines.length > 1;
    const xValue = (_u: uPlot, v: number | null): string =>
      v === null || v === undefined ? "—" : x === "wall" ? fmtTime(v * 1000) : x === "time" ? fmtSeconds(v) : fmtNumber(v);
    return {
      width,
      height: HEIGHT,
      scales: { x: { time: x === "wall" } },
      cursor: { drag: { x: true, y: false, setScale: true } },
      legend: { live: true },
      series: [
        { label: x === "step" ? "Step" : x === "time" ? "Time" : "Wall time", value: xValue },
        ...this.lines.map((l) => ({
          label: l.label,
          stroke: l.color,
          width: 1.25,
          spanGaps: many,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? "—" : fmtNumber(v)),
        })),
      ],
      axes: [
        x === "time" ? { incrs: SECOND_INCRS, values: (_u: uPlot, splits: number[]) => splits.map(fmtSeconds) } : {},
        { size: 60, values: (_u: uPlot, splits: number[]) => splits.map((v) => fmtNumber(v)) },
      ],
      hooks: {
        setScale: [
          (u: uPlot, key: string) => {
            if (key === "x") this.el.dataset.xRange = `${u.scales.x.min},${u.scales.x.max}`;
          },
        ],
        draw: [
          () => {
            if (this.drawStart) {
              const detail = { complete: this.complete, points: Number(this.el.dataset.points) };
              performance.measure(`keel-draw ${this.metric}`, { start: this.drawStart, end: performance.now(), detail });
              this.drawStart = 0;
            }
            if (!this.complete) return;
            this.el.dataset.x = x;
            this.el.dataset.rendered = "1";
          },
        ],
      },
    };
  }
}

/** A run to draw in a chart. */
export interface RunRef {
  id: string;
  label: string;
  color: string;
  /** start time, ms since the epoch (0 when unknown) */
  start: number;
}

/** A chart of `metric`, one series per run, its histories loading until
 * `signal` aborts (the caller then destroys the chart). */
export function runsChart(metric: string, runs: RunRef[], x: XAxis, signal: AbortSignal, title?: Node): MetricChart {
  const chart = new MetricChart(metric, x, title);
  const lines: Line[] = runs.map((r) => ({ label: r.label, color: r.color, hist: new History(), start: r.start }));
  chart.setLines(lines);
  runs.forEach((r, i) => {
    loadHistory(r.id, metric, lines[i].hist, signal, () => chart.redraw()).catch((e: Error) => {
      if (!signal.aborted) chart.fail(runs.length > 1 ? `${r.label}: ${e.message}` : e.message);
    });
  });
  return chart;
}

/** One chart per chosen metric, in a grid: charts of metrics no longer
 * chosen are stopped and removed, new ones made by `make`, all in the order
 * chosen. */
export class ChartGrid {
  readonly el = h("div", { class: "chart-grid" });
  private charts = new Map<string, { chart: MetricChart; ctl: AbortController }>();

  constructor(private make: (metric: string, signal: AbortSignal) => MetricChart) {}

  show(metrics: string[]): void {
    for (const [k, c] of this.charts)
      if (!metrics.includes(k)) {
        c.ctl.abort();
        c.chart.destroy();
        c.chart.el.remove();
        this.charts.delete(k);
      }
    for (const k of metrics) {
      let c = this.charts.get(k);
      if (!c) {
        const ctl = new AbortController();
        c = { chart: this.make(k, ctl.signal), ctl };
        this.charts.set(k, c);
      }
      this.el.append(c.chart.el);
    }
  }

  setX(x: XAxis): void {
    for (const { chart } of this.charts.values()) chart.setX(x);
  }

  destroy(): void {
    for (const c of this.charts.values()) {
      c.ctl.abort();
      c.chart.destroy();
    }
    this.charts.clear();
  }
}
