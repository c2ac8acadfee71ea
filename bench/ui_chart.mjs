// ui_chart.mjs -- how the web UI's metric chart holds up with a 100,000-point
// history: the time from opening "#/runs/<id>?tab=charts&metrics=<key>" to the
// chart drawn (data-rendered="1"), 5 times, median and max, split into paging
// the history in (get-history requests with JSON parsing, and copying into
// typed arrays) and drawing, from the measures the UI leaves on the
// Performance timeline; then frame times while the cursor sweeps the chart
// and while zooming in and out.
//
//   KEEL_BIN=build/keel [KEEL_UI_DIR=dir] node bench/ui_chart.mjs   (POINTS=200000 for more)
//
// Not part of make check.
import { startKeel, launchBrowser, openPage } from "../tests/ui/lib.mjs";

const POINTS = Number(process.env.POINTS ?? 100_000);
const TIMES = Number(process.env.TIMES ?? 5);
const KEY = "train/loss";
const T0 = 1_700_000_000_000;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
const ms = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1)) + " ms";
const stat = (xs) => `median ${ms(median(xs))}, max ${ms(Math.max(...xs))}`;

const keel = await startKeel();
let browser;
try {
  const exp = (await keel.api("POST", "mlflow/experiments/create", { name: "bench-chart" })).experiment_id;
  const { run } = await keel.api("POST", "mlflow/runs/create", { experiment_id: exp, run_name: "long", start_time: T0 });
  const id = run.info.run_id;
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < POINTS) {
      const s = next;
      next += 1000;
      const metrics = [];
      for (let i = s; i < Math.min(POINTS, s + 1000); i++)
        metrics.push({ key: KEY, value: Math.exp(-i / 20000) + 0.05 * Math.sin(i / 37), timestamp: T0 + i * 100, step: i });
      await keel.api("POST", "mlflow/runs/log-batch", { run_id: id, metrics });
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  console.log(`seeded ${POINTS} points of "${KEY}" in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  browser = await launchBrowser();
  const url = `${keel.url}/#/runs/${id}?tab=charts&metrics=${encodeURIComponent(KEY)}`;
  const sel = `[data-testid=chart][data-rendered="1"]`;
  const rows = [];
  for (let i = 0; i < TIMES; i++) {
    const page = await openPage(browser);
    const wall0 = performance.now();
    await page.goto(url);
    await page.waitForSelector(sel, { timeout: 120000 });
    const wall = performance.now() - wall0;
    const points = Number(await page.getAttribute("[data-testid=chart]", "data-points"));
    if (points !== POINTS) throw new Error(`chart drew ${points} points, expected ${POINTS}`);
    // times on the page's own clock, from the start of navigation
    const t = await page.evaluate((key) => {
      const m = performance.getEntriesByType("measure");
      const hist = m.find((e) => e.name === `keel-history ${key}`);
      const draws = m.filter((e) => e.name === `keel-draw ${key}`);
      const last = draws[draws.length - 1];
      const req = performance.getEntriesByType("resource").filter((e) => e.name.includes("get-history"));
      return {
        rendered: last.startTime + last.duration,
        historyStart: hist.startTime,
        history: hist.duration,
        fetch: hist.detail.fetchMs,
        copy: hist.detail.copyMs,
        pages: hist.detail.pages,
        network: req.reduce((s, e) => s + (e.responseEnd - e.requestStart), 0),
        bytes: req.reduce((s, e) => s + e.encodedBodySize, 0),
        draws: draws.length,
        drawAll: draws.reduce((s, e) => s + e.duration, 0),
        drawLast: last.duration,
        tail: last.startTime + last.duration - (hist.startTime + hist.duration),
      };
    }, KEY);
    rows.push({ wall, ...t });
    console.log(
      `  #${i + 1}: rendered at ${ms(t.rendered)} after navigation (${ms(wall)} seen by the driver); ` +
        `history ${ms(t.history)} from ${ms(t.historyStart)} (${t.pages} pages, ${(t.bytes / 1e6).toFixed(1)} MB: ` +
        `requests+JSON ${ms(t.fetch)} of which network ${ms(t.network)}, copy ${ms(t.copy)}); ` +
        `drawing ${ms(t.drawAll)} in ${t.draws} draws, last ${ms(t.drawLast)}; history done to drawn ${ms(t.tail)}`,
    );
    if (i === TIMES - 1) {
      // interaction: frame intervals while the cursor sweeps the plot, then drag-zoom and reset
      const box = await page.locator("[data-testid=chart] .u-over").boundingBox();
      await page.mouse.move(box.x + 2, box.y + box.height / 2);
      const sweep = page.evaluate(() => new Promise((resolve) => {
        const gaps = [];
        let last = performance.now();
        const end = last + 1500;
        const tick = (now) => {
          gaps.push(now - last);
          last = now;
          if (now < end) requestAnimationFrame(tick);
          else resolve(gaps);
        };
        requestAnimationFrame(tick);
      }));
      for (let s = 0; s <= 60; s++) await page.mouse.move(box.x + 2 + ((box.width - 4) * s) / 60, box.y + box.height / 2);
      const gaps = (await sweep).slice(1);
      console.log(`cursor sweep, frame intervals: median ${ms(median(gaps))}, p95 ${ms(pct(gaps, 95))}, worst ${ms(Math.max(...gaps))}`);
      const zooms = [];
      for (let z = 0; z < 5; z++) {
        const before = await page.evaluate(() => performance.now());
        await page.mouse.move(box.x + box.width * 0.3, box.y + 20);
        await page.mouse.down();
        await page.mouse.move(box.x + box.width * 0.6, box.y + 20, { steps: 3 });
        await page.mouse.up();
        await page.mouse.dblclick(box.x + box.width * 0.5, box.y + 20);
        zooms.push((await page.evaluate(() => performance.now())) - before);
      }
      console.log(`drag-zoom and double-click reset (driver round trip included): ${stat(zooms)}`);
      if (page.errors.length) throw new Error("page errors: " + page.errors.join("; "));
    }
    await page.context().close();
  }
  console.log(`open to drawn, ${TIMES} times, ${POINTS} points:`);
  console.log(`  rendered after navigation: ${stat(rows.map((r) => r.rendered))}`);
  console.log(`  seen by the driver:        ${stat(rows.map((r) => r.wall))}`);
  console.log(`  paging the history in:    ${stat(rows.map((r) => r.history))}` +
    ` (requests+JSON ${stat(rows.map((r) => r.fetch))}; copy ${stat(rows.map((r) => r.copy))})`);
  console.log(`  drawing, all draws:        ${stat(rows.map((r) => r.drawAll))}; final draw ${stat(rows.map((r) => r.drawLast))}`);
} finally {
  await browser?.close();
  await keel.stop();
}
