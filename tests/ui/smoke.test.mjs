// smoke.test.mjs -- keel serves its UI at "/" and the shell finds its views.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startKeel, launchBrowser, openPage, screenshot } from "./lib.mjs";

let keel, browser;
before(async () => {
  keel = await startKeel({ env: { KEEL_UI_DIR: "" } }); // the copy embedded in the binary
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await keel?.stop();
});

test("the UI is served, embedded, with its security headers", async () => {
  const r = await fetch(keel.url + "/", { headers: { "Accept-Encoding": "gzip" } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /text\/html/);
  assert.match(r.headers.get("content-security-policy"), /script-src 'self'/);
  const etag = r.headers.get("etag");
  const html = await r.text();
  const js = /src="\.\/(static-files\/[^"]+\.js)"/.exec(html);
  assert.ok(js, "index.html names its script");
  const again = await fetch(keel.url + "/", {
    headers: { "If-None-Match": etag, "Accept-Encoding": "gzip" },
  });
  assert.equal(again.status, 304);
  // the plain copy has a tag of its own: a cache never answers one with the other
  const plain = await fetch(keel.url + "/", { headers: { "Accept-Encoding": "identity" } });
  assert.equal(plain.headers.get("content-encoding"), null);
  assert.notEqual(plain.headers.get("etag"), etag);
  const stale = await fetch(keel.url + "/", {
    headers: { "If-None-Match": etag, "Accept-Encoding": "identity" },
  });
  assert.equal(stale.status, 200);
  const asset = await fetch(keel.url + "/" + js[1]);
  assert.equal(asset.status, 200);
  assert.match(asset.headers.get("cache-control"), /immutable/);
  assert.equal((await fetch(keel.url + "/static-files/nope.js")).status, 404);
});

test("experiments: create one, find it, open it", async () => {
  const page = await openPage(browser, keel.url + "/");
  await page.waitForSelector("[data-testid=experiments]");
  await page.fill("input[aria-label='New experiment name']", "churn-ui");
  await page.click("form.inline button[type=submit]");
  await page.waitForURL(/#\/experiments\/\d+/);
  await page.goto(keel.url + "/#/experiments?q=churn");
  await page.waitForSelector("tr[data-experiment-id] >> text=churn-ui");
  await screenshot(page, "experiments");
  // a name with a quote is found too (MLflow's filters have no escape)
  await keel.api("POST", "mlflow/experiments/create", { name: "it's churn" });
  await page.fill("input[aria-label='Search experiments']", "it's");
  await page.waitForSelector("tr[data-experiment-id] >> text=it's churn");
  assert.equal(await page.locator("tr[data-experiment-id]").count(), 1);
  assert.deepEqual(page.errors, []);
});
