// auth.test.mjs -- the UI under `keel server --auth`: its own sign-in form
// (never the browser's Basic dialog), a token instead of the password, only
// what the caller may read, a clear message when refused, and signing out.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startKeel, launchBrowser, openPage, screenshot, signIn } from "./lib.mjs";

const ADMIN = ["alice", "alice-long-passphrase"];
const BOB = ["bob", "bob-long-passphrase"];
let keel, browser;

before(async () => {
  keel = await startKeel({
    args: ["--auth", "--default-permission", "NO_PERMISSIONS"],
    env: { KEEL_ADMIN_USERNAME: ADMIN[0], KEEL_ADMIN_PASSWORD: ADMIN[1] },
  });
  keel.auth = ADMIN.join(":");
  await keel.api("POST", "mlflow/users/create", { username: BOB[0], password: BOB[1] });
  const mine = await keel.api("POST", "mlflow/experiments/create", { name: "alice-secret" });
  const shared = await keel.api("POST", "mlflow/experiments/create", { name: "team-shared" });
  await keel.api("POST", "mlflow/experiments/permissions/create", {
    experiment_id: shared.experiment_id, username: BOB[0], permission: "READ",
  });
  keel.mine = mine.experiment_id;
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await keel?.stop();
});

test("the API refuses the UI without asking the browser for Basic credentials", async () => {
  const r = await fetch(keel.url + "/api/2.0/mlflow/experiments/search", {
    headers: { "X-Requested-With": "keel-ui" },
  });
  assert.equal(r.status, 401);
  assert.equal(r.headers.get("www-authenticate"), null);
  const plain = await fetch(keel.url + "/api/2.0/mlflow/experiments/search");
  assert.equal(plain.headers.get("www-authenticate"), 'Basic realm="mlflow"');
  assert.equal((await fetch(keel.url + "/")).status, 200); // the UI's files hold no data
});

test("sign in, see only what may be read, refused changes say why, sign out", async () => {
  const page = await openPage(browser, keel.url + "/#/experiments");
  await page.waitForURL(/#\/signin/);
  await signIn(page, [BOB[0], "not-the-password"]);
  await page.waitForSelector("form.signin [role=alert] >> text=Wrong username or password");
  await screenshot(page, "signin-refused");
  await signIn(page, BOB);
  await page.waitForSelector("tr[data-experiment-id] >> text=team-shared");
  assert.equal(await page.locator("tr[data-experiment-id] >> text=alice-secret").count(), 0);
  assert.match(await page.textContent("header .user"), /bob/);
  // the password is not kept; a token is
  const stored = await page.evaluate(() => JSON.stringify(sessionStorage));
  assert.ok(!stored.includes(BOB[1]));
  assert.match(stored, /keel_/);
  // READ only: renaming is refused with a clear message
  page.once("dialog", (d) => d.accept("hijacked"));
  await page.click("tr[data-experiment-id]:has-text('team-shared') button:has-text('Rename')");
  await page.waitForSelector("[role=alert] >> text=You do not have permission");
  await screenshot(page, "refused");
  // an experiment bob may not read, opened by its link
  await page.goto(keel.url + `/#/experiments/${keel.mine}`);
  await page.waitForSelector("[role=alert] >> text=/permission/i");
  // signing out revokes the token and asks again
  const token = await page.evaluate(() => sessionStorage.getItem("keel.token"));
  await page.click("header .user button");
  await page.waitForURL(/#\/signin/);
  const r = await fetch(keel.url + "/api/2.0/mlflow/experiments/search", {
    headers: { Authorization: "Bearer " + token },
  });
  assert.equal(r.status, 401);
  assert.deepEqual(page.errors, []);
});
