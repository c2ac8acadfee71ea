// deployments.test.mjs -- the deployments views against a real deployment: a
// fixture XGBoost model (made by MLflow) registered as a version and served
// by keel; the list shows its status, the page its version, a request rate
// and latency read from /metrics while requests arrive, and the predictions
// it logged, found again by request id.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { root, startKeel, launchBrowser, openPage, screenshot } from "./lib.mjs";

const FIXTURES = process.env.KEEL_FIXTURES ?? path.resolve(root, "..", "shared", "fixtures");
const MODEL_DIR = path.join(FIXTURES, "models", "xgb-classifier-iris");
const CSV = readFileSync(path.join(FIXTURES, "golden", "xgb-classifier-iris", "input.csv"), "utf8");
const NAME = "iris-prod";
let keel, browser;
const ids = [];

async function score(body = CSV) {
  const r = await fetch(`${keel.url}/deployments/${NAME}/invocations`, {
    method: "POST",
    headers: { "Content-Type": "text/csv" },
    body,
  });
  await r.arrayBuffer();
  return r;
}

before(async () => {
  keel = await startKeel();
  // the fixture's files as a run's artifacts, registered as version 1 of iris-classifier
  const exp = (await keel.api("POST", "mlflow/experiments/create", { name: "iris" })).experiment_id;
  const run = (await keel.api("POST", "mlflow/runs/create", { experiment_id: exp })).run;
  await Promise.all(readdirSync(MODEL_DIR).map((f) =>
    keel.upload(run, "model/" + f, readFileSync(path.join(MODEL_DIR, f)))));
  await keel.api("POST", "mlflow/registered-models/create", { name: "iris-classifier" });
  await keel.api("POST", "mlflow/model-versions/create", {
    name: "iris-classifier", source: run.info.artifact_uri + "/model", run_id: run.info.run_id,
  });
  const d = await keel.api("POST", "keel/deployments/create", { name: NAME, model_uri: "models:/iris-classifier/1" });
  assert.equal(d.deployment.status, "READY");
  for (let i = 0; i < 3; i++) {
    const r = await score();
    assert.equal(r.status, 200);
    ids.push(r.headers.get("x-request-id"));
  }
  const bad = await score("x,y\n1,2\n");
  assert.equal(bad.status, 400);
  ids.push(bad.headers.get("x-request-id"));
  // the log is written best-effort, shortly after the answer
  const deadline = Date.now() + 10000;
  for (;;) {
    const got = (await keel.api("GET", "keel/predictions", { deployment: NAME })).predictions;
    if (ids.every((id) => got.some((p) => p.request_id === id))) break;
    assert.ok(Date.now() < deadline, "predictions logged");
    await new Promise((r) => setTimeout(r, 50));
  }
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await keel?.stop();
});

test("deployments list: the deployment, its version and status", async () => {
  const page = await openPage(browser, keel.url + "/#/deployments");
  const row = page.locator(`[data-testid=deployments] tr[data-deployment-name=${NAME}]`);
  await row.waitFor();
  assert.equal(await row.getAttribute("data-status"), "READY");
  assert.match(await row.textContent(), /models:\/iris-classifier\/1.*iris-classifier v1.*READY.*best-effort/);
  await screenshot(page, "deployments");
  await row.locator("a", { hasText: NAME }).click();
  await page.waitForURL(new RegExp(`#/deployments/${NAME}$`));
  await page.waitForSelector("[data-testid=deployment-status][data-status=READY]");
  assert.deepEqual(page.errors, []);
});

test("deployment page: version served, traffic from /metrics, predictions by request id", async () => {
  const page = await openPage(browser, keel.url + `/#/deployments/${NAME}`);
  await page.waitForSelector("[data-testid=deployment-status][data-status=READY]");
  assert.equal(await page.textContent("[data-testid=served-version]"), "iris-classifier v1");
  assert.equal(await page.getAttribute("[data-testid=served-version] a", "href"), "#/models/iris-classifier/versions/1");

  // every request made, newest first, the refused one with its status
  for (const id of ids) await page.waitForSelector(`[data-testid=predictions] tr[data-request-id="${id}"]`);
  const shown = await page.$$eval("[data-testid=predictions] tr[data-request-id]", (rows) => rows.map((r) => r.dataset.requestId));
  assert.deepEqual(shown, [...ids].reverse());
  const refused = page.locator(`[data-testid=predictions] tr[data-request-id="${ids[3]}"]`);
  assert.equal(await refused.locator(".badge.bad").textContent(), "400");
  assert.match(await page.textContent(`[data-testid=predictions] tr[data-request-id="${ids[0]}"]`), 
    new RegExp(`200.*${CSV.trim().split("\n").length - 1} rows: \\[\\[5\\.1,3\\.5,1\\.4,0\\.2\\]`));

  // traffic while the page is open: the rate comes from two readings of /metrics
  let sending = true;
  const load = (async () => {
    while (sending) {
      await score();
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    await page.waitForFunction(
      () => Number(document.querySelector("[data-testid=request-rate]")?.getAttribute("data-rate")) > 0,
      null, { timeout: 20000 });
  } finally {
    sending = false;
    await load;
  }
  assert.match(await page.textContent("[data-testid=request-rate]"), /^\d+(\.\d+)? req\/s$/);
  assert.match(await page.textContent("[data-testid=latency-p50]"), /\d.*(µs|ms|s)$/);
  assert.match(await page.textContent("[data-testid=latency-p99]"), /\d.*(µs|ms|s)$/);
  assert.ok(Number(await page.getAttribute("[data-testid=request-total]", "data-value")) > ids.length);

  // one request id looked up: exactly its record, and the address keeps it
  await page.fill("input[aria-label='Request id']", ids[1]);
  await page.click("form:has(input[aria-label='Request id']) button[type=submit]");
  await page.waitForURL(new RegExp(`request_id=${ids[1]}`));
  await page.waitForFunction((id) => {
    const rows = document.querySelectorAll("[data-testid=predictions] tr[data-request-id]");
    return rows.length === 1 && rows[0].getAttribute("data-request-id") === id;
  }, ids[1]);
  await screenshot(page, "deployment");

  const again = await openPage(browser, keel.url + `/#/deployments/${NAME}?request_id=${ids[2]}`);
  await again.waitForSelector(`[data-testid=predictions] tr[data-request-id="${ids[2]}"]`);
  assert.equal(await again.locator("[data-testid=predictions] tr[data-request-id]").count(), 1);
  assert.equal(await again.inputValue("input[aria-label='Request id']"), ids[2]);
  assert.deepEqual(again.errors, []);

  // past 50 records the log answers oldest first: the page still shows the newest 50
  let total = (await keel.api("GET", "keel/predictions", { deployment: NAME, max_results: 1000 })).predictions.length;
  let last;
  for (; total < 60; total++) last = (await score()).headers.get("x-request-id");
  last = (await score()).headers.get("x-request-id");
  const deadline = Date.now() + 10000;
  while (!(await keel.api("GET", "keel/predictions", { deployment: NAME, request_id: last })).predictions.length) {
    assert.ok(Date.now() < deadline, "the last prediction is logged");
    await new Promise((r) => setTimeout(r, 50));
  }
  await page.click("form:has(input[aria-label='Request id']) button:has-text('Clear')");
  await page.waitForURL(new RegExp(`#/deployments/${NAME}$`));
  await page.waitForFunction((id) => {
    const rows = document.querySelectorAll("[data-testid=predictions] tr[data-request-id]");
    return rows.length === 50 && rows[0].getAttribute("data-request-id") === id;
  }, last);
  for (const id of ids) assert.equal(await page.locator(`[data-testid=predictions] tr[data-request-id="${id}"]`).count(), 0);
  assert.match(await page.textContent("[data-testid=predictions-caption]"), /The 50 most recent predictions/);
  assert.deepEqual(page.errors, []);
});
