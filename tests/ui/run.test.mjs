// run.test.mjs -- the run view (overview, metric charts, artifact previews)
// and the run comparison, against a keel seeded through the REST API: two
// runs with params, tags, a dataset, 2,000-step histories and artifacts of
// every previewed kind, and a run with a 100,000-point history.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { startKeel, launchBrowser, openPage, screenshot } from "./lib.mjs";

let keel, browser, exp, base, cand, big;
const STEPS = 2000;
const BIG = 100000;
const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

const JSON_DOC = { model: "gbm", layers: [64, 32], nested: { ok: true } };
const CSV_DOC = 'name,score,note\nalice,0.91,plain\nbob,0.87,"1,5 quoted"\ncarol,0.5,"say ""hi"""\n';
const TEXT_DOC = "hello from keel\n<b>not bold</b>\nthird line\n";
const MLMODEL_DOC = `artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
    loader_module: mlflow.sklearn
    python_version: 3.11.4
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.4.2
mlflow_version: 2.14.1
model_uuid: 6c1e3f0a2b8d4e5f9a7b1c2d3e4f5a6b
utc_time_created: '2026-01-05 09:30:00.000000'
`;

function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** A valid 8x8 RGB PNG: a red square. */
function png8() {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(8, 0);
  ihdr.writeUInt32BE(8, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < 8; y++) rows.push(Buffer.from([0, ...Array(8).fill([220, 30, 30]).flat()]));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Logs `n` points of `key` in batches of 1,000, `parallel` requests at a time. */
async function logHistory(run, key, n, value, parallel = 4) {
  const batches = [];
  for (let s = 0; s < n; s += 1000) batches.push(s);
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const s = batches[next++];
      const metrics = [];
      for (let i = s; i < Math.min(n, s + 1000); i++)
        metrics.push({ key, value: value(i), timestamp: T0 + i * 1000, step: i });
      await keel.api("POST", "mlflow/runs/log-batch", { run_id: run.info.run_id, metrics });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

async function newRun(name, params, tags = []) {
  const { run } = await keel.api("POST", "mlflow/runs/create", {
    experiment_id: exp,
    run_name: name,
    start_time: T0,
    tags: [{ key: "mlflow.user", value: "ada" }, { key: "mlflow.source.name", value: "train.py" }],
  });
  await keel.api("POST", "mlflow/runs/log-batch", {
    run_id: run.info.run_id,
    params: Object.entries(params).map(([key, value]) => ({ key, value })),
    tags,
  });
  return run;
}

before(async () => {
  keel = await startKeel();
  browser = await launchBrowser();
  ({ experiment_id: exp } = await keel.api("POST", "mlflow/experiments/create", { name: "churn-runs" }));
  base = await newRun("baseline", { lr: "0.01", epochs: "10", optimizer: "adam" }, [
    { key: "team", value: "vision" },
    { key: "mlflow.note.content", value: "Baseline for the churn model." },
  ]);
  cand = await newRun("candidate", { lr: "0.02", epochs: "10", optimizer: "adam" });
  big = await newRun("long-run", { lr: "0.001" });
  assert.match(base.info.artifact_uri, /^mlflow-artifacts:/, "the proxy serves this run's artifacts");
  await Promise.all([
    logHistory(base, "loss", STEPS, (i) => 2 / (1 + i / 100)),
    logHistory(base, "acc", STEPS, (i) => 1 - 0.5 / (1 + i / 200)),
    logHistory(cand, "loss", STEPS, (i) => 1.8 / (1 + i / 80)),
  ]);
  await logHistory(big, "big", BIG, (i) => Math.sin(i / 500) + i / BIG);
  await keel.api("POST", "mlflow/runs/log-inputs", {
    run_id: base.info.run_id,
    datasets: [{
      tags: [{ key: "mlflow.data.context", value: "training" }],
      dataset: { name: "churn-train", digest: "d1g3st42", source_type: "local", source: '{"uri": "/data/churn.csv"}' },
    }],
  });
  for (const r of [base, cand, big])
    await keel.api("POST", "mlflow/runs/update", { run_id: r.info.run_id, status: "FINISHED", end_time: T0 + 2000 * 1000 });
  await keel.api("POST", "mlflow/runs/log-model", {
    run_id: base.info.run_id,
    model_json: JSON.stringify({
      run_id: base.info.run_id,
      artifact_path: "model",
      utc_time_created: "2026-01-05 09:30:00.000000",
      flavors: { python_function: { loader_module: "mlflow.sklearn" }, sklearn: { sklearn_version: "1.4.2" } },
    }),
  });
  await keel.upload(base, "notes.txt", TEXT_DOC);
  await keel.upload(base, "metrics.json", JSON.stringify(JSON_DOC));
  await keel.upload(base, "data/table.csv", CSV_DOC);
  await keel.upload(base, "plots/pixel.png", png8());
  await keel.upload(base, "model/MLmodel", MLMODEL_DOC);
  await keel.upload(base, "model/model.pkl", Buffer.from([0x80, 0x04, 0x95, 0, 1, 2, 3]));
  await keel.upload(base, "train.log", "epoch done\n".repeat(120000)); // 1.3 MB: previewed in part
});

after(async () => {
  await browser?.close();
  await keel?.stop();
});

const runUrl = (run, q = "") => `${keel.url}/#/runs/${run.info.run_id}${q}`;
const chartSel = (key, extra = "") => `[data-testid=chart][data-metric="${key}"]${extra}`;

test("run overview: header, params, metrics, tags, dataset", async () => {
  const page = await openPage(browser, runUrl(base));
  await page.waitForSelector("[data-testid=params]");
  assert.equal(await page.textContent("[data-testid=run-name]"), "baseline");
  assert.equal(await page.textContent("[data-testid=status]"), "FINISHED");
  await page.waitForSelector(".run-meta a >> text=churn-runs");
  const meta = await page.textContent("[data-testid=run-meta]");
  assert.match(meta, /ada/);
  assert.match(meta, /train\.py/);
  assert.match(meta, /33 min 20 s/);
  assert.equal(await page.textContent("[data-testid=params] tr[data-key=lr] td"), "0.01");
  assert.equal(await page.locator("[data-testid=params] tbody tr").count(), 3);
  assert.equal(await page.textContent("[data-testid=metrics] tr[data-key=loss] td.num"), String(Math.round((2 / (1 + 1999 / 100)) * 1e6) / 1e6));
  assert.equal(await page.textContent("[data-testid=description]"), "Baseline for the churn model.");
  // system tags stay hidden until asked for
  assert.equal(await page.textContent("[data-testid=tags] tr[data-key=team] td"), "vision");
  assert.equal(await page.locator("[data-testid=tags] tr[data-key='mlflow.user']").count(), 0);
  await page.click("label.check >> text=system tags");
  await page.waitForSelector("[data-testid=tags] tr[data-key='mlflow.user']");
  assert.match(page.url(), /systags=1/);
  const ds = page.locator("[data-testid=datasets] tr[data-dataset=churn-train] td");
  assert.deepEqual((await ds.allTextContents()).slice(0, 4), ["churn-train", "d1g3st42", "local", "training"]);
  await screenshot(page, "run-overview");
  // the logged model (MLflow 2's log-model) opens its directory in the artifacts tab
  assert.match(await page.textContent("[data-testid=models] tr[data-model=model]"), /python_function, sklearn/);
  await page.click("[data-testid=models] a >> text=model");
  await page.waitForSelector("button.art-entry[data-path='model/MLmodel']");
  assert.match(page.url(), /tab=artifacts/);
  assert.match(page.url(), /path=model(&|$)/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("run charts: a metric link opens its chart; x by time; the address reopens it", async () => {
  const page = await openPage(browser, runUrl(base));
  await page.click("[data-testid=metrics] a >> text=loss");
  await page.waitForSelector(chartSel("loss", "[data-rendered='1']"));
  assert.equal(await page.getAttribute(chartSel("loss"), "data-points"), String(STEPS));
  assert.match(page.url(), /tab=charts/);
  assert.match(page.url(), /metrics=loss(&|$)/);
  // a second metric, then wall-clock time relative to the start
  await page.check(".metric-picker label[data-key=acc] input");
  await page.waitForSelector(chartSel("acc", "[data-rendered='1']"));
  assert.equal(await page.getAttribute(chartSel("acc"), "data-points"), String(STEPS));
  await page.selectOption("[data-testid=x-axis]", "time");
  await page.waitForSelector(chartSel("loss", "[data-x=time][data-rendered='1']"));
  await page.waitForSelector(chartSel("acc", "[data-x=time][data-rendered='1']"));
  assert.equal(await page.getAttribute(chartSel("loss"), "data-points"), String(STEPS));
  // the legend follows the cursor
  const over = page.locator(chartSel("loss") + " .u-over");
  const box = await over.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  const legend = await page.textContent(chartSel("loss") + " .u-legend");
  assert.match(legend, /baseline/);
  assert.match(legend, /\d+(\.\d+)? (s|min)/, "x value shown as a time");
  // drag to zoom in (the x axis changes), double-click to zoom out again
  const range = async () => (await page.getAttribute(chartSel("loss"), "data-x-range")).split(",").map(Number);
  const [min, max] = await range();
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 4 });
  await page.mouse.up();
  const rangeIs = (sel, want, same) =>
    page.waitForFunction(([s, w, eq]) => (document.querySelector(s).dataset.xRange === w) === eq, [sel, want, same]);
  await rangeIs(chartSel("loss"), `${min},${max}`, false);
  const [zMin, zMax] = await range();
  assert.ok(zMin >= min && zMax < max && zMax - zMin < (max - min) * 0.5, `zoomed in: ${zMin}..${zMax} of ${min}..${max}`);
  await page.mouse.dblclick(box.x + box.width / 2, box.y + box.height / 2);
  await rangeIs(chartSel("loss"), `${min},${max}`, true); // double-click zooms out
  await screenshot(page, "run-charts");
  // wall-clock time: dates in the legend
  await page.selectOption("[data-testid=x-axis]", "wall");
  await page.waitForSelector(chartSel("loss", "[data-x=wall][data-rendered='1']"));
  await page.mouse.move(box.x + box.width / 3, box.y + box.height / 2);
  assert.match(await page.textContent(chartSel("loss") + " .u-legend"), /2026-01-05 \d\d:\d\d:\d\d/);
  await page.selectOption("[data-testid=x-axis]", "time");
  await page.waitForSelector(chartSel("loss", "[data-x=time][data-rendered='1']"));
  const url = page.url();
  assert.match(url, /metrics=acc(%2C|,)loss/, "in the picker's order");
  assert.match(url, /x=time/);
  assert.deepEqual(page.errors, []);
  await page.context().close();

  const again = await openPage(browser, url);
  await again.waitForSelector(chartSel("acc", "[data-x=time][data-rendered='1']"));
  await again.waitForSelector(chartSel("loss", "[data-x=time][data-rendered='1']"));
  assert.equal(await again.locator("[data-testid=chart]").count(), 2);
  assert.equal(await again.inputValue("[data-testid=x-axis]"), "time");
  assert.equal(await again.getAttribute(".tabs a[data-tab=charts]", "aria-selected"), "true");
  assert.deepEqual(again.errors, []);
  await again.context().close();
});

test("artifacts: tree and previews of text, JSON, CSV, image, MLmodel, other", async () => {
  const page = await openPage(browser, runUrl(base, "?tab=artifacts"));
  const preview = "[data-testid=artifact-preview]";
  await page.click("button.art-entry[data-path='notes.txt']");
  await page.waitForSelector(`${preview}[data-kind=text][data-path='notes.txt'] pre`);
  assert.equal(await page.textContent(`${preview} pre`), TEXT_DOC);
  assert.equal(await page.locator(`${preview} b`).count(), 0, "file content is text, never markup");
  assert.match(page.url(), /path=notes\.txt/);

  await page.click("button.art-entry[data-path='train.log']");
  await page.waitForSelector(`${preview}[data-kind=text][data-path='train.log'] pre`);
  assert.match(await page.textContent(`${preview} .notice`), /first 1\.0 MiB of 1\.3 MiB/);
  assert.equal((await page.textContent(`${preview} pre`)).length, 1 << 20);

  await page.click("button.art-entry[data-path='metrics.json']");
  await page.waitForSelector(`${preview}[data-kind=json] pre`);
  assert.equal(await page.textContent(`${preview} pre`), JSON.stringify(JSON_DOC, null, 2));

  await page.click("button.art-entry[data-path='data']");
  await page.click("button.art-entry[data-path='data/table.csv']");
  await page.waitForSelector(`${preview}[data-kind=csv] [data-testid=csv-table]`);
  assert.deepEqual(await page.locator(`${preview} thead th`).allTextContents(), ["name", "score", "note"]);
  assert.equal(await page.locator(`${preview} tbody tr`).count(), 3);
  assert.equal(await page.textContent(`${preview} tbody tr:nth-child(2) td:nth-child(3)`), "1,5 quoted");
  assert.equal(await page.textContent(`${preview} tbody tr:nth-child(3) td:nth-child(3)`), 'say "hi"');

  await page.click("button.art-entry[data-path='plots']");
  await page.click("button.art-entry[data-path='plots/pixel.png']");
  const img = page.locator(`${preview}[data-kind=image] img`);
  await img.waitFor();
  await page.waitForFunction((sel) => document.querySelector(sel)?.complete, `${preview} img`);
  assert.equal(await img.evaluate((i) => i.naturalWidth), 8);
  assert.match(await img.getAttribute("src"), /^blob:/);

  await page.click("button.art-entry[data-path='model']");
  await page.click("button.art-entry[data-path='model/model.pkl']");
  await page.waitForSelector(`${preview}[data-kind=other]`);
  assert.match(await page.textContent(preview), /No preview/);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click(`${preview} button >> text=Download`)]);
  assert.equal(download.suggestedFilename(), "model.pkl");

  await page.click("button.art-entry[data-path='model/MLmodel']");
  await page.waitForSelector(`${preview}[data-kind=mlmodel] [data-testid=flavors]`);
  assert.equal(await page.textContent(`${preview} h3`), "Model");
  assert.deepEqual(await page.locator(`${preview} [data-testid=flavors] strong`).allTextContents(), ["python_function", "sklearn"]);
  assert.match(await page.textContent(`${preview} [data-flavor=sklearn]`), /sklearn_version: 1\.4\.2/);
  assert.match(await page.textContent(`${preview} [data-testid=artifact-size]`), /\d+ B/);
  await screenshot(page, "run-artifacts");
  assert.deepEqual(page.errors, []);
  await page.context().close();

  // the address opens a file deep in the tree again
  const again = await openPage(browser, runUrl(base, "?tab=artifacts&path=data/table.csv"));
  await again.waitForSelector(`${preview}[data-kind=csv] [data-testid=csv-table]`);
  assert.equal(await again.textContent(`${preview} tbody tr:first-child td:first-child`), "alice");
  assert.equal(await again.getAttribute("button.art-entry.selected", "data-path"), "data/table.csv");
  assert.deepEqual(again.errors, []);
  await again.context().close();
});

test("compare: side by side, differing params marked, overlay of both runs", async () => {
  const ids = `${base.info.run_id},${cand.info.run_id}`;
  const page = await openPage(browser, `${keel.url}/#/compare?runs=${ids}&metrics=loss`);
  await page.waitForSelector("[data-testid=compare]");
  const heads = await page.locator("[data-testid=compare] thead th a:not(.remove)").allTextContents();
  assert.deepEqual(heads, ["baseline", "candidate"]);
  assert.equal(await page.getAttribute("tr[data-param=lr]", "class"), "diff");
  assert.equal(await page.getAttribute("tr[data-param=epochs]", "class"), "same");
  assert.deepEqual(await page.locator("tr[data-param=lr] td").allTextContents(), ["0.01", "0.02"]);
  await page.waitForSelector("[data-testid=compare] td a[data-experiment-id] >> text=churn-runs");
  await page.check("[data-testid=only-diff]");
  assert.equal(await page.isVisible("tr[data-param=epochs]"), false);
  assert.equal(await page.isVisible("tr[data-param=lr]"), true);
  assert.match(page.url(), /diff=1/);
  await page.waitForSelector(chartSel("loss", "[data-rendered='1']"));
  assert.equal(await page.getAttribute(chartSel("loss"), "data-points"), String(2 * STEPS));
  const legend = await page.textContent(chartSel("loss") + " .u-legend");
  assert.match(legend, /baseline/);
  assert.match(legend, /candidate/);
  await screenshot(page, "compare");
  assert.deepEqual(page.errors, []);

  // more than 50 runs: refused, with the reason
  const many = Array.from({ length: 51 }, (_, i) => `r${i}`).join(",");
  await page.goto(`${keel.url}/#/compare?runs=${many}`);
  await page.waitForSelector("[role=alert] >> text=limited to 50");
  assert.equal(await page.locator("[data-testid=compare]").count(), 0);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a 100,000-point history is paged in and drawn", async () => {
  const page = await openPage(browser, runUrl(big, "?tab=charts&metrics=big"));
  await page.waitForSelector(chartSel("big", "[data-rendered='1']"), { timeout: 30000 });
  assert.equal(await page.getAttribute(chartSel("big"), "data-points"), String(BIG));
  const pages = await page.evaluate(() =>
    performance.getEntriesByType("resource").filter((e) => e.name.includes("get-history")).length);
  assert.equal(pages, 4, "read in pages of 25,000");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
