// lib.mjs -- what the browser tests share: a real keel server on a free
// loopback port with a fresh data directory, the REST calls that seed it,
// and Debian's Chromium driven by playwright-core (from ui/node_modules).
//
// Screenshots go to build/ui-test/screenshots/ (kept as test artefacts).
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, mkdirSync, openSync, rmSync, readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "../..");
const require = createRequire(path.join(root, "ui", "package.json"));
const { chromium } = require("playwright-core");

export const KEEL_BIN = process.env.KEEL_BIN ?? path.join(root, "build", "keel");
export const CHROMIUM = process.env.KEEL_CHROMIUM ?? "/usr/bin/chromium";
export const SHOTS = path.join(root, "build", "ui-test", "screenshots");

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts `keel server` (extra args, env) and waits for /health. */
export async function startKeel({ args = [], env = {} } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "keel-ui-"));
  const port = await freePort();
  const stderrPath = path.join(dir, "stderr.log");
  const errFd = openSync(stderrPath, "w");
  const proc = spawn(
    KEEL_BIN,
    ["server", "--host", "127.0.0.1", "--port", String(port), "--data-dir", path.join(dir, "data"), ...args],
    { stdio: ["ignore", errFd, errFd], env: { ...process.env, ...env } },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    try {
      const r = await fetch(url + "/health");
      if (r.ok) break;
    } catch {
      /* not yet listening */
    }
    if (proc.exitCode !== null || Date.now() > deadline)
      throw new Error(`keel server did not start:\n${readFileSync(stderrPath, "utf8")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    dir,
    auth: null,
    /** REST call; `body` as JSON (POST/PATCH/DELETE) or query (GET). Throws on non-2xx. */
    async api(method, p, body) {
      const headers = { "Content-Type": "application/json" };
      if (this.auth) headers.Authorization = "Basic " + Buffer.from(this.auth).toString("base64");
      let u = `${url}/api/2.0/${p}`;
      let init = { method, headers };
      if (method === "GET" && body) u += "?" + new URLSearchParams(body).toString();
      else if (body) init.body = JSON.stringify(body);
      const r = await fetch(u, init);
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${p} -> ${r.status}: ${text}`);
      return text ? JSON.parse(text) : {};
    },
    /** Uploads an artifact file to a run through the artifact proxy. */
    async upload(run, artifactPath, content) {
      const headers = {};
      if (this.auth) headers.Authorization = "Basic " + Buffer.from(this.auth).toString("base64");
      const r = await fetch(
        `${url}/api/2.0/mlflow-artifacts/artifacts/${run.info.experiment_id}/${run.info.run_id}/artifacts/${artifactPath}`,
        { method: "PUT", headers, body: content },
      );
      if (!r.ok) throw new Error(`upload ${artifactPath} -> ${r.status}: ${await r.text()}`);
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await new Promise((r) => proc.once("exit", r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
    stderr: () => readFileSync(stderrPath, "utf8"),
  };
}

/** Headless Chromium with the flags this machine's closed network needs. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

/** A page that fails the test on any script error or console error. */
export async function openPage(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 40[134]/.test(m.text())) errors.push(m.text());
  });
  page.errors = errors;
  if (url) await page.goto(url);
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + ".png"), fullPage: false });
}

/** Fills the UI's sign-in form (shown under --auth) and submits it. */
export async function signIn(page, [user, pass]) {
  await page.waitForSelector("form.signin");
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", pass);
  await page.click("form.signin button[type=submit]");
}
