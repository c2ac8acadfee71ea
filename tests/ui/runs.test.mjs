// runs.test.mjs -- the runs table of an experiment: rows shown, sorted by a
// metric column both ways, MLflow's filter language (and a refused filter
// shown as an error), the address reopening the same table, pages loaded
// while scrolling with the rows in the DOM bounded, runs selected for
// comparing, deleted and restored.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startKeel, launchBrowser, openPage, screenshot } from "./lib.mjs";

const N = 2500; // three pages of 1,000
const T0 = 1_700_000_000_000;
let keel, browser, exp;
const runs = []; // index i -> { id, loss }

// distinct losses in an order unrelated to start time: a permutation of 0..N-1
const lossOf = (i) => ((i * 7919) % N) / N + 0.0001;

async function seed() {
  exp = (await keel.api("POST", "mlflow/experiments/create", { name: "runs-ui" })).experiment_id;
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      const r = await keel.api("POST", "mlflow/runs/create", {
        experiment_id: exp,
        run_name: `run-${i}`,
        user_id: ["ada", "grace", "linus"][i % 3],
        start_time: T0 + i * 1000,
      });
      const id = r.run.info.run_id;
      await keel.api("POST", "mlflow/runs/log-batch", {
        run_id: id,
        params: [{ key: "lr", value: String((i % 10) / 100) }, { key: "depth", value: String(i % 7) }],
        metrics: [
          { key: "loss", value: lossOf(i), timestamp: T0, step: 0 },
          { key: "acc", value: 1 - lossOf(i), timestamp: T0, step: 0 },
        ],
        tags: [{ key: "team", value: `team-${i % 3}` }],
      });
      // the newest runs (shown first) finished or failed, the rest still run
      if (i >= N - 30)
        await keel.api("POST", "mlflow/runs/update", {
          run_id: id,
          status: i % 4 ? "FINISHED" : "FAILED",
          end_time: T0 + i * 1000 + 400 + (i % 50) * 1000,
        });
      runs[i] = { id, loss: lossOf(i) };
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

before(async () => {
  keel = await startKeel();
  await seed();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await keel?.stop();
});

const TABLE = "[data-testid=runs-table]";
const loaded = (n) => `${TABLE}[data-loaded="${n}"][data-state=ready]`;
const firstRowId = (page) => page.getAttribute(`${TABLE} [data-index="0"]`, "data-run-id");
const rowsInDom = (page) => page.$$eval(`${TABLE} [data-run-id]`, (r) => r.length);
async function firstRowIs(page, id) {
  await page.waitForFunction(
    ([sel, want]) => document.querySelector(sel)?.getAttribute("data-run-id") === want,
    [`${TABLE}[data-state=ready] [data-index="0"]`, id],
  );
}
const byLoss = () => [...runs].sort((a, b) => a.loss - b.loss);

test("rows shown newest first, sorted by a metric both ways", async () => {
  const page = await openPage(browser, `${keel.url}/#/experiments/${exp}`);
  await page.waitForSelector(loaded(1000));
  assert.equal(await page.textContent("h1"), "runs-ui");
  assert.equal(await firstRowId(page), runs[N - 1].id, "start time, newest first");
  assert.match(await page.textContent(".runs-count"), /1,000 runs loaded, more/);
  const rendered = await rowsInDom(page);
  assert.ok(rendered > 10 && rendered < 200, `rows in the DOM: ${rendered}`);
  // default columns: the metrics and params seen, by name
  const cols = await page.$$eval(`${TABLE} [role=columnheader]`, (c) => c.map((x) => x.dataset.col));
  assert.deepEqual(cols.slice(6), ["metrics.acc", "metrics.loss", "params.depth", "params.lr"]);
  const cell = await page.textContent(`${TABLE} [data-index="0"] [role=cell]:nth-child(8)`);
  assert.equal(cell, String(Math.round(runs[N - 1].loss * 1e6) / 1e6));
  await screenshot(page, "runs-table");

  await page.click(`${TABLE} [data-col="metrics.loss"] button`);
  await firstRowIs(page, byLoss()[0].id);
  assert.equal(await page.getAttribute(`${TABLE} [data-col="metrics.loss"]`, "aria-sort"), "ascending");
  assert.equal(new URL(page.url()).hash.includes("order=metrics.%60loss%60+ASC"), true, page.url());
  await page.click(`${TABLE} [data-col="metrics.loss"] button`);
  await firstRowIs(page, byLoss()[N - 1].id);
  assert.equal(await page.getAttribute(`${TABLE} [data-col="metrics.loss"]`, "aria-sort"), "descending");
  assert.deepEqual(page.errors, []);
});

test("a filter shows only matching runs; a refused filter is an error", async () => {
  const page = await openPage(browser, `${keel.url}/#/experiments/${exp}`);
  await page.waitForSelector(loaded(1000));
  const X = 0.1;
  const want = runs.filter((r) => r.loss < X);
  assert.ok(want.length > 50 && want.length < 1000);
  await page.fill("input[aria-label='Filter runs']", `metrics.loss < ${X} and params.lr != 'x'`);
  await page.press("input[aria-label='Filter runs']", "Enter");
  await page.waitForSelector(loaded(want.length));
  const shown = await page.$$eval(`${TABLE} [data-run-id]`, (r) => r.map((x) => x.dataset.runId));
  const ok = new Set(want.map((r) => r.id));
  assert.ok(shown.length > 0 && shown.every((id) => ok.has(id)), "only runs with loss < X");
  assert.match(await page.textContent(".runs-count"), new RegExp(`^${want.length} runs, all loaded`));
  await screenshot(page, "runs-filtered");

  await page.fill("input[aria-label='Filter runs']", "metrics.loss <<< 0.5");
  await page.press("input[aria-label='Filter runs']", "Enter");
  await page.waitForSelector(`${TABLE}[data-state=error][data-loaded="0"]`);
  const alert = await page.textContent("[role=alert]");
  assert.match(alert, /filter was refused/i);
  assert.ok(alert.length > 30, alert);
  assert.deepEqual(page.errors.filter((e) => !/status of 400/.test(e)), []);
});

test("the address reopens the same filter, order and columns", async () => {
  const page = await openPage(browser, `${keel.url}/#/experiments/${exp}`);
  await page.waitForSelector(loaded(1000));
  const filter = "metrics.loss < 0.3";
  const want = runs.filter((r) => r.loss < 0.3);
  await page.fill("input[aria-label='Filter runs']", filter);
  await page.press("input[aria-label='Filter runs']", "Enter");
  await page.waitForSelector(loaded(want.length));
  // descending: two clicks
  await page.click(`${TABLE} [data-col="metrics.loss"] button`);
  await firstRowIs(page, want.sort((a, b) => a.loss - b.loss)[0].id);
  await page.click(`${TABLE} [data-col="metrics.loss"] button`);
  await firstRowIs(page, want[want.length - 1].id);
  // columns: drop params.depth, add tags.team
  await page.click(".cols-chooser summary");
  await page.uncheck("input[data-key='params.depth']");
  await page.check("input[data-key='tags.team']");
  await page.waitForSelector(`${TABLE} [data-col="tags.team"]`);
  const cols = await page.$$eval(`${TABLE} [role=columnheader]`, (c) => c.map((x) => x.dataset.col));
  assert.ok(!cols.includes("params.depth") && cols.includes("tags.team"));
  const url = page.url();
  const q = new URLSearchParams(new URL(url).hash.split("?")[1]);
  assert.equal(q.get("filter"), filter);
  assert.equal(q.get("order"), "metrics.`loss` DESC");
  assert.equal(q.get("cols"), "metrics.acc,metrics.loss,params.lr,tags.team");

  const again = await openPage(browser, url);
  await again.waitForSelector(loaded(want.length));
  await firstRowIs(again, want[want.length - 1].id);
  assert.equal(await again.inputValue("input[aria-label='Filter runs']"), filter);
  assert.deepEqual(await again.$$eval(`${TABLE} [role=columnheader]`, (c) => c.map((x) => x.dataset.col)), cols);
  assert.equal(await again.getAttribute(`${TABLE} [data-col="metrics.loss"]`, "aria-sort"), "descending");
  const team = await again.textContent(`${TABLE} [data-index="0"] [role=cell]:last-child`);
  assert.match(team, /^team-\d$/);
  assert.deepEqual([...page.errors, ...again.errors], []);
});

test("scrolling to the end loads the next page; the DOM stays small", async () => {
  const page = await openPage(browser, `${keel.url}/#/experiments/${exp}`);
  await page.waitForSelector(loaded(1000));
  const toBottom = () => page.$eval(TABLE, (el) => { el.scrollTop = el.scrollHeight; });
  await toBottom();
  await page.waitForSelector(loaded(2000));
  assert.ok((await rowsInDom(page)) < 200);
  await toBottom();
  await page.waitForSelector(loaded(N));
  await toBottom();
  await page.waitForSelector(`${TABLE} [data-index="${N - 1}"]`);
  const rendered = await rowsInDom(page);
  assert.ok(rendered > 10 && rendered < 200, `rows in the DOM: ${rendered}`);
  assert.equal(await page.getAttribute(`${TABLE} [data-index="${N - 1}"]`, "data-run-id"), runs[0].id);
  assert.match(await page.textContent(".runs-count"), /2,500 runs, all loaded/);
  assert.equal(await page.getAttribute(TABLE, "data-loaded"), String(N), "no page after the last");
  assert.deepEqual(page.errors, []);
});

test("selected runs: compare link, delete and restore", async () => {
  const page = await openPage(browser, `${keel.url}/#/experiments/${exp}`);
  await page.waitForSelector(loaded(1000));
  const compare = page.locator("[data-testid=compare]");
  assert.equal(await compare.getAttribute("aria-disabled"), "true");
  // shift-click selects the runs between the last one clicked and this one
  await page.check(`${TABLE} [data-index="1"] input[type=checkbox]`);
  await page.click(`${TABLE} [data-index="4"] input[type=checkbox]`, { modifiers: ["Shift"] });
  assert.equal(await compare.textContent(), "Compare (4)");
  assert.equal(await page.$$eval(`${TABLE} .vt-row.selected`, (r) => r.length), 4);
  await page.click("button:has-text('Clear selection')");
  assert.equal(await compare.getAttribute("aria-disabled"), "true");
  assert.equal(await page.$$eval(`${TABLE} input[type=checkbox]:checked`, (r) => r.length), 0);

  const a = await page.getAttribute(`${TABLE} [data-index="0"]`, "data-run-id");
  const b = await page.getAttribute(`${TABLE} [data-index="2"]`, "data-run-id");
  await page.check(`${TABLE} [data-index="0"] input[type=checkbox]`);
  await page.check(`${TABLE} [data-index="2"] input[type=checkbox]`);
  assert.equal(await compare.getAttribute("href"), `#/compare?runs=${a},${b}`);
  assert.equal(await compare.textContent(), "Compare (2)");

  // delete the two, then restore them from the deleted runs
  page.on("dialog", (d) => d.accept());
  await page.click("button:has-text('Delete (2)')");
  await page.waitForSelector(loaded(1000));
  await firstRowIs(page, runs[N - 2].id);
  const gone = await keel.api("GET", "mlflow/runs/get", { run_id: a });
  assert.equal(gone.run.info.lifecycle_stage, "deleted");
  await page.selectOption("select[aria-label='Runs shown']", "deleted");
  await page.waitForSelector(loaded(2));
  assert.match(page.url(), /view_type=deleted/);
  await page.check(`${TABLE} [data-index="0"] input[type=checkbox]`);
  await page.check(`${TABLE} [data-index="1"] input[type=checkbox]`);
  await page.click("button:has-text('Restore (2)')");
  await page.waitForSelector(`${TABLE}[data-loaded="0"][data-state=ready]`);
  const back = await keel.api("GET", "mlflow/runs/get", { run_id: b });
  assert.equal(back.run.info.lifecycle_stage, "active");
  assert.deepEqual(page.errors, []);
});
