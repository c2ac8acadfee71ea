// registry.test.mjs -- the model registry views: the models list with aliases
// and a name search, a model's versions with their source run, a version's
// alias moved and stage transitioned through the UI (checked over REST),
// and the alias's history from keel's audit log.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startKeel, launchBrowser, openPage, screenshot } from "./lib.mjs";

const MODEL = "fraud-detector";
let keel, browser, runId;

/** Script errors and console errors, except the refusals a test provokes on purpose. */
const unexpected = (page) => page.errors.filter((e) => !/status of 400/.test(e));

before(async () => {
  keel = await startKeel();
  const exp = (await keel.api("POST", "mlflow/experiments/create", { name: "registry-ui" })).experiment_id;
  runId = (await keel.api("POST", "mlflow/runs/create", { experiment_id: exp })).run.info.run_id;
  await Promise.all([
    keel.api("POST", "mlflow/registered-models/create", {
      name: MODEL,
      description: "Scores card transactions.\nTrained weekly.",
      tags: [{ key: "team", value: "risk" }],
    }),
    keel.api("POST", "mlflow/registered-models/create", { name: "churn-model" }),
  ]);
  for (let i = 0; i < 3; i++) // one after the other: versions 1, 2, 3
    await keel.api("POST", "mlflow/model-versions/create", { name: MODEL, source: `runs:/${runId}/model`, run_id: runId });
  await Promise.all([
    keel.api("POST", "mlflow/registered-models/alias", { name: MODEL, alias: "champion", version: "1" }),
    keel.api("POST", "mlflow/registered-models/alias", { name: MODEL, alias: "challenger", version: "3" }),
    keel.api("POST", "mlflow/model-versions/set-tag", { name: MODEL, version: "1", key: "validated", value: "yes" }),
    keel.api("POST", "mlflow/model-versions/transition-stage", { name: MODEL, version: "1", stage: "Staging" }),
  ]);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await keel?.stop();
});

test("models list: aliases shown, search filters by name on the server", async () => {
  const page = await openPage(browser, keel.url + "/#/models");
  const row = page.locator(`[data-testid=models] tr[data-model-name="${MODEL}"]`);
  await row.waitFor();
  assert.equal(await row.locator("a.badge.alias[data-alias=champion]").textContent(), "champion → v1");
  assert.equal(await row.locator("a.badge.alias[data-alias=challenger]").textContent(), "challenger → v3");
  assert.match(await row.textContent(), /Scores card transactions/);
  assert.equal(await page.locator("[data-testid=models] tr[data-model-name=churn-model]").count(), 1);
  await screenshot(page, "models");

  await page.fill("input[aria-label='Search models']", "FRAUD"); // ILIKE: any case
  await page.waitForFunction(() => !document.querySelector("[data-testid=models] tr[data-model-name=churn-model]"));
  assert.equal(await row.count(), 1);
  await page.waitForURL(/#\/models\?q=FRAUD$/);

  // the address opens the filtered list again
  await page.goto(keel.url + "/#/models?q=churn");
  await page.waitForSelector("[data-testid=models] tr[data-model-name=churn-model]");
  assert.equal(await page.locator("[data-testid=models] tr[data-model-name]").count(), 1);
  assert.equal(await page.inputValue("input[aria-label='Search models']"), "churn");
  assert.deepEqual(unexpected(page), []);
});

test("model page: versions newest first with stage, aliases and source run", async () => {
  const page = await openPage(browser, keel.url + `/#/models/${MODEL}`);
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=versions] tr[data-version]").length === 3);
  const versions = await page.$$eval("[data-testid=versions] tr[data-version]", (rows) => rows.map((r) => r.dataset.version));
  assert.deepEqual(versions, ["3", "2", "1"]);
  const links = await page.$$eval("[data-testid=versions] a.run-link", (as) => as.map((a) => a.getAttribute("href")));
  assert.deepEqual(links, [`#/runs/${runId}`, `#/runs/${runId}`, `#/runs/${runId}`]);
  const v1 = page.locator("[data-testid=versions] tr[data-version='1']");
  assert.equal(await v1.locator("[data-stage]").getAttribute("data-stage"), "Staging");
  assert.equal(await v1.locator("td.aliases").textContent(), "champion");
  assert.equal(await page.locator("[data-testid=versions] tr[data-version='3'] td.aliases").textContent(), "challenger");
  assert.match(await page.textContent("[data-testid=description]"), /Scores card transactions/);
  assert.equal(await page.locator("[data-testid=tags] tr[data-tag=team]").count(), 1);
  await page.waitForSelector("[data-testid=alias-history] tr[data-alias=champion][data-version='1']");
  await screenshot(page, "model");

  // a tag set and deleted through the page
  await page.fill("[data-testid=tags] input[aria-label='Tag key']", "owner");
  await page.fill("[data-testid=tags] input[aria-label='Tag value']", "ml-platform");
  await page.click("[data-testid=tags] button:has-text('Set tag')");
  await page.waitForSelector("[data-testid=tags] tr[data-tag=owner]");
  const tags = (await keel.api("GET", "mlflow/registered-models/get", { name: MODEL })).registered_model.tags;
  assert.deepEqual(tags.find((t) => t.key === "owner"), { key: "owner", value: "ml-platform" });
  assert.deepEqual(unexpected(page), []);
});

test("version page: champion moved to v2 and a stage transition, through the UI", async () => {
  const page = await openPage(browser, keel.url + `/#/models/${MODEL}/versions/2`);
  await page.waitForSelector("[data-testid=aliases] >> text=This version has no alias.");
  assert.equal(await page.textContent("[data-testid=source]"), `runs:/${runId}/model`);
  assert.equal(await page.getAttribute("a.run-link", "href"), `#/runs/${runId}`);
  const uri = (await keel.api("GET", "mlflow/model-versions/get-download-uri", { name: MODEL, version: "2" })).artifact_uri;
  await page.waitForFunction((u) => document.querySelector("[data-testid=download-uri]")?.textContent === u, uri);

  // a reserved alias is refused with keel's reason
  await page.fill("[data-testid=aliases] input[aria-label=Alias]", "latest");
  await page.click("[data-testid=aliases] form button[type=submit]");
  await page.waitForSelector("[role=alert] >> text=/reserved/");

  await page.click(".alias-move[data-alias=champion] button");
  await page.waitForSelector("[data-testid=aliases] .badges [data-alias=champion]");
  assert.equal(await page.locator(".alias-move[data-alias=champion]").count(), 0);
  const champion = await keel.api("GET", "mlflow/registered-models/alias", { name: MODEL, alias: "champion" });
  assert.equal(champion.model_version.version, "2");

  await page.selectOption("select[aria-label='New stage']", "Production");
  await page.check("input[name=archive_existing_versions]");
  await page.click("[data-testid=stage-control] button:has-text('Transition')");
  await page.waitForSelector("[data-testid=stage] [data-stage=Production]");
  const mv = (await keel.api("GET", "mlflow/model-versions/get", { name: MODEL, version: "2" })).model_version;
  assert.equal(mv.current_stage, "Production");
  await screenshot(page, "version");

  // the model page follows: champion on v2, and its history shows the move
  await page.click(`.breadcrumb a:has-text("${MODEL}")`);
  await page.waitForSelector("[data-testid=alias-history] tr[data-alias=champion][data-version='2']");
  const moves = await page.$$eval("[data-testid=alias-history] tr[data-alias=champion]", (rows) => rows.map((r) => r.dataset.version));
  assert.deepEqual(moves, ["2", "1"], "newest move first");
  await page.waitForFunction(() => document.querySelector("[data-testid=versions] tr[data-version='2'] td.aliases")?.textContent === "champion");
  assert.equal(await page.textContent("[data-testid=versions] tr[data-version='1'] td.aliases"), "");
  assert.equal(await page.getAttribute("[data-testid=versions] tr[data-version='2'] [data-stage]", "data-stage"), "Production");
  assert.deepEqual(unexpected(page), []);
});

test("create, rename and delete a model through the UI", async () => {
  const page = await openPage(browser, keel.url + "/#/models");
  page.on("dialog", (d) => (d.type() === "prompt" ? d.accept("scratch-renamed") : d.accept()));
  await page.fill("input[aria-label='New model name']", "scratch");
  await page.click("button:has-text('Create model')");
  await page.waitForURL(/#\/models\/scratch$/);
  await page.waitForSelector("section[data-model=scratch]");
  await page.click("button:has-text('Rename')");
  await page.waitForURL(/#\/models\/scratch-renamed$/);
  await page.waitForSelector("section[data-model=scratch-renamed]");
  assert.equal((await keel.api("GET", "mlflow/registered-models/get", { name: "scratch-renamed" })).registered_model.name,
    "scratch-renamed");
  await page.click("section[data-model=scratch-renamed] button.danger:has-text('Delete')");
  await page.waitForURL(/#\/models$/);
  await page.waitForSelector(`[data-testid=models] tr[data-model-name="${MODEL}"]`);
  assert.equal(await page.locator("[data-testid=models] tr[data-model-name^=scratch]").count(), 0);
  await assert.rejects(keel.api("GET", "mlflow/registered-models/get", { name: "scratch-renamed" }), /404/);
  assert.deepEqual(unexpected(page), []);
});

test("versions are paged by the server; a description edited in place", async () => {
  const name = "many-versions";
  await keel.api("POST", "mlflow/registered-models/create", { name });
  const create = () => keel.api("POST", "mlflow/model-versions/create", { name, source: `runs:/${runId}/model` });
  for (let i = 0; i < 55; i += 5) await Promise.all([create(), create(), create(), create(), create()]);
  const page = await openPage(browser, keel.url + `/#/models/${name}`);
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=versions] tr[data-version]").length === 50);
  await page.click("button:has-text('Load more versions')");
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=versions] tr[data-version]").length === 55);
  const versions = await page.$$eval("[data-testid=versions] tr[data-version]", (rows) => rows.map((r) => Number(r.dataset.version)));
  assert.deepEqual(versions, Array.from({ length: 55 }, (_, i) => 55 - i));
  assert.ok(await page.isHidden("button:has-text('Load more versions')"));

  await page.click("[data-testid=description] button:has-text('Add description')");
  await page.fill("[data-testid=description] textarea", "Line one.\nLine two.");
  await page.click("[data-testid=description] button:has-text('Save')");
  await page.waitForSelector("[data-testid=description] p.description >> text=Line two.");
  const rm = (await keel.api("GET", "mlflow/registered-models/get", { name })).registered_model;
  assert.equal(rm.description, "Line one.\nLine two.");
  assert.deepEqual(unexpected(page), []);
});
