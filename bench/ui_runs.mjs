// ui_runs.mjs -- how the web UI's runs table holds up at 100,000 runs in one
// experiment: seeding rate through the public API, runs/search page times
// (default order, ordered by a metric and a param, filtered, deep pages),
// time from navigation to the first rows in Chromium, and frame times while
// scrolling, first with one page loaded and then with every run loaded into
// the table by infinite scrolling.
//
//   KEEL_BIN=build/keel node bench/ui_runs.mjs        (RUNS=20000 for a quicker run)
//
// Not part of make check: seeding 100,000 runs takes a few minutes.
import { startKeel, launchBrowser, openPage } from "../tests/ui/lib.mjs";

const RUNS = Number(process.env.RUNS ?? 100_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);
const T0 = 1_700_000_000_000;
const TABLE = "[data-testid=runs-table]";

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
const ms = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1)) + " ms";
const results = [];
const report = (what, value) => {
  results.push([what, value]);
  console.log(`  ${what}: ${value}`);
};

const keel = await startKeel();
let browser;
try {
  // ---- seeding: runs/create, then one log-batch with 2 params and 2 metrics
  const exp = (await keel.api("POST", "mlflow/experiments/create", { name: "bench-100k" })).experiment_id;
  console.log(`seeding ${RUNS} runs into experiment ${exp}, ${CONCURRENCY} at a time ...`);
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < RUNS) {
      const i = next++;
      const r = await keel.api("POST", "mlflow/runs/create", {
        experiment_id: exp,
        run_name: `run-${i}`,
        start_time: T0 + i * 1000,
      });
      const loss = ((i * 7919) % RUNS) / RUNS; // distinct, unrelated to start time
      await keel.api("POST", "mlflow/runs/log-batch", {
        run_id: r.run.info.run_id,
        params: [{ key: "lr", value: String((i % 10) / 100) }, { key: "depth", value: String(i % 12) }],
        metrics: [
          { key: "loss", value: loss, timestamp: T0, step: 0 },
          { key: "acc", value: 1 - loss, timestamp: T0, step: 0 },
        ],
      });
      if (++done % 10_000 === 0)
        console.log(`  ${done} runs, ${(done / ((performance.now() - t0) / 1000)).toFixed(0)} runs/s`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seedS = (performance.now() - t0) / 1000;
  console.log("seeding:");
  report("runs seeded", `${RUNS} in ${seedS.toFixed(1)} s`);
  report("seeding rate", `${(RUNS / seedS).toFixed(0)} runs/s (${((2 * RUNS) / seedS).toFixed(0)} requests/s)`);

  // ---- the server alone: one page of 1,000, three times each, median
  console.log("runs/search, 1,000 runs a page (median of 3):");
  const token = (offset) => Buffer.from(JSON.stringify({ offset })).toString("base64");
  const mid = Math.floor(RUNS / 2000) * 1000;
  const searches = [
    ["start_time DESC (default), first page", {}],
    ["metrics.loss ASC, first page", { order_by: ["metrics.`loss` ASC"] }],
    ["metrics.loss DESC, first page", { order_by: ["metrics.`loss` DESC"] }],
    ["metrics.loss DESC, page 3 (offset 2,000)", { order_by: ["metrics.`loss` DESC"], page_token: token(2000) }],
    [`metrics.loss DESC, offset ${mid}`, { order_by: ["metrics.`loss` DESC"], page_token: token(mid) }],
    ["params.lr ASC, first page", { order_by: ["params.`lr` ASC"] }],
    [`start_time DESC, offset ${mid}`, { page_token: token(mid) }],
    ["filter metrics.loss < 0.5", { filter: "metrics.loss < 0.5" }],
    ["filter params.lr = '0.05'", { filter: "params.lr = '0.05'" }],
    ["filter metrics.loss < 0.5, order metrics.acc", { filter: "metrics.loss < 0.5", order_by: ["metrics.`acc` DESC"] }],
  ];
  for (const [what, extra] of searches) {
    const times = [];
    for (let k = 0; k < 3; k++) {
      const t = performance.now();
      const r = await keel.api("POST", "mlflow/runs/search", { experiment_ids: [exp], max_results: 1000, ...extra });
      times.push(performance.now() - t);
      if (!r.runs?.length) throw new Error(`${what}: no runs`);
    }
    report(what, ms(median(times)));
  }

  // ---- the browser
  browser = await launchBrowser();
  const page = await openPage(browser);
  const firstRows = async (query) => {
    const times = [];
    for (let k = 0; k < 5; k++) {
      await page.goto("about:blank");
      const t = performance.now();
      await page.goto(`${keel.url}/#/experiments/${exp}${query}`);
      await page.waitForSelector(`${TABLE} [data-run-id]`);
      times.push(performance.now() - t);
    }
    await page.waitForSelector(`${TABLE}[data-loaded="1000"]`);
    return times;
  };
  console.log("navigation to the first rows shown (5 times):");
  let times = await firstRows("");
  report("first rows, default order", `median ${ms(median(times))}, worst ${ms(Math.max(...times))}`);
  times = await firstRows("?order=" + encodeURIComponent("metrics.`loss` DESC"));
  report("first rows, ordered by metrics.loss", `median ${ms(median(times))}, worst ${ms(Math.max(...times))}`);
  times = await firstRows("?filter=" + encodeURIComponent("metrics.loss < 0.5"));
  report("first rows, filter metrics.loss < 0.5", `median ${ms(median(times))}, worst ${ms(Math.max(...times))}`);

  // scrolls `screens` screens in `steps` steps, one step a frame; frame intervals from rAF
  const scroll = (screens, stepsPerScreen, from) =>
    page.$eval(
      TABLE,
      async (el, [screens, stepsPerScreen, from]) => {
        const frame = () => new Promise((r) => requestAnimationFrame(r));
        el.scrollTop = from;
        await frame();
        await frame();
        const step = el.clientHeight / stepsPerScreen;
        const gaps = [];
        let maxRows = 0;
        let last = await frame();
        for (let s = 0; s < screens * stepsPerScreen; s++) {
          el.scrollTop += step;
          const now = await frame();
          gaps.push(now - last);
          last = now;
          maxRows = Math.max(maxRows, el.querySelectorAll("[data-run-id]").length);
        }
        return { gaps, maxRows };
      },
      [screens, stepsPerScreen, from],
    );
  // jumps to far positions (like dragging the scroll bar): every row in view is new
  const jumps = (n) =>
    page.$eval(
      TABLE,
      async (el, n) => {
        const frame = () => new Promise((r) => requestAnimationFrame(r));
        const gaps = [];
        let last = await frame();
        for (let k = 0; k < n; k++) {
          el.scrollTop = ((k * 7919) % n) / n * (el.scrollHeight - el.clientHeight - 2000);
          const now = await frame();
          gaps.push(now - last);
          last = now;
        }
        return { gaps, maxRows: el.querySelectorAll("[data-run-id]").length };
      },
      n,
    );
  // the renderer's own busy time (script, style, layout) from Chromium's counters, per frame
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable");
  const counters = async () => {
    const { metrics } = await cdp.send("Performance.getMetrics");
    return Object.fromEntries(metrics.map((m) => [m.name, m.value]));
  };
  const frames = async (what, run) => {
    const a = await counters();
    const r = await run();
    const b = await counters();
    const per = (k) => ms(((b[k] - a[k]) * 1000) / r.gaps.length);
    report(what, `frame median ${ms(median(r.gaps))}, p95 ${ms(pct(r.gaps, 95))}, worst ${ms(Math.max(...r.gaps))}; ` +
      `per frame: script ${per("ScriptDuration")}, style ${per("RecalcStyleDuration")}, layout ${per("LayoutDuration")}; ` +
      `rows in DOM <= ${r.maxRows}`);
  };

  console.log("scrolling with the first page (1,000 runs) loaded, frame intervals:");
  await page.goto(`${keel.url}/#/experiments/${exp}`);
  await page.waitForSelector(`${TABLE}[data-loaded="1000"]`);
  await frames("20 screens, 4 steps a screen", () => scroll(20, 4, 0));
  await frames("20 screens, 1 step a screen", () => scroll(20, 1, 0));

  console.log(`loading all ${RUNS} runs into the table by scrolling to the end ...`);
  const tl = performance.now();
  for (let loaded = 1000; loaded < RUNS; ) {
    await page.$eval(TABLE, (el) => { el.scrollTop = el.scrollHeight; });
    const want = Math.min(RUNS, loaded + 1000);
    await page.waitForSelector(`${TABLE}[data-loaded="${want}"]`, { timeout: 60_000 });
    loaded = want;
  }
  const loadS = (performance.now() - tl) / 1000;
  report(`all ${RUNS} runs loaded page by page`, `${loadS.toFixed(1)} s (${((loadS * 1000) / (RUNS / 1000)).toFixed(0)} ms a page)`);
  const heap = await page.evaluate(() => (performance).memory?.usedJSHeapSize ?? 0);
  if (heap) report("JS heap with every run loaded", `${(heap / 1048576).toFixed(0)} MB`);
  const dom = await page.evaluate(() => document.getElementsByTagName("*").length);
  report("elements in the page", String(dom));

  console.log(`scrolling with ${RUNS} runs loaded, frame intervals:`);
  await frames("20 screens, 4 steps a screen (from the middle)", () => scroll(20, 4, (RUNS / 2) * 30));
  await frames("20 screens, 1 step a screen (from the middle)", () => scroll(20, 1, (RUNS / 2) * 30));
  await frames("40 jumps to far rows", () => jumps(40));

  console.log("\nresults");
  const w = Math.max(...results.map((r) => r[0].length));
  console.log("-".repeat(w + 50));
  for (const [what, value] of results) console.log(what.padEnd(w + 2) + value);
  console.log("-".repeat(w + 50));
  if (page.errors.length) console.log("page errors:", page.errors);
} finally {
  await browser?.close();
  await keel.stop();
}
