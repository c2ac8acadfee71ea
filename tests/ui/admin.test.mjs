// admin.test.mjs -- the governance view: the audit log newest first with its
// chain verified, users created and granted permissions through the UI, and
// a non-admin refused with a clear message.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startKeel, launchBrowser, openPage, screenshot, signIn } from "./lib.mjs";

const ADMIN = ["alice", "alice-long-passphrase"];
let keel, browser, exp;

before(async () => {
  keel = await startKeel({
    args: ["--auth"],
    env: { KEEL_ADMIN_USERNAME: ADMIN[0], KEEL_ADMIN_PASSWORD: ADMIN[1] },
  });
  keel.auth = ADMIN.join(":");
  exp = (await keel.api("POST", "mlflow/experiments/create", { name: "audited" })).experiment_id;
  await keel.api("POST", "mlflow/experiments/update", { experiment_id: exp, new_name: "audited-2" });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await keel?.stop();
});

test("the audit log, newest first, verified; users and grants", async () => {
  const page = await openPage(browser, keel.url + "/#/admin");
  await signIn(page, ADMIN);
  await page.waitForURL(/#\/admin/);
  await page.waitForSelector("[data-testid=audit] tr[data-seq]");
  const seqs = await page.$$eval("[data-testid=audit] tr[data-seq]", (rows) => rows.map((r) => Number(r.dataset.seq)));
  assert.ok(seqs.length >= 3);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), "newest first");
  const first = await page.textContent("[data-testid=audit] tbody tr:first-child");
  assert.match(first, /keel\/tokens\/create|experiments\/update/); // the latest changes
  assert.ok(await page.locator("[data-testid=audit] >> text=POST /api/2.0/mlflow/experiments/update").count());
  await page.click("button:has-text('Verify chain')");
  await page.waitForSelector("text=/Chain intact: \\d+ records/");
  await screenshot(page, "audit");

  await page.click("a:has-text('Users and permissions')");
  await page.waitForSelector("[data-testid=users] tr[data-username=alice]");
  await page.fill("input[aria-label='New username']", "carol");
  await page.fill("input[aria-label=\"New user's password\"]", "carol-long-passphrase");
  await page.click("button:has-text('Create user')");
  await page.waitForSelector("[data-testid=users] tr[data-username=carol]");
  await page.fill("input[aria-label=Resource]", exp);
  await page.fill("input[aria-label=Grantee]", "carol");
  await page.selectOption("select[aria-label=Permission]", "EDIT");
  await page.click("button:has-text('Grant')");
  await page.waitForSelector(`[data-testid=users] tr[data-username=carol] >> text=experiment ${exp}: EDIT`);
  // granting again changes the grant instead of failing
  await page.selectOption("select[aria-label=Permission]", "READ");
  await page.click("button:has-text('Grant')");
  await page.waitForSelector(`[data-testid=users] tr[data-username=carol] >> text=experiment ${exp}: READ`);
  const got = await keel.api("GET", "mlflow/experiments/permissions/get", { experiment_id: exp, username: "carol" });
  assert.equal(got.experiment_permission.permission, "READ");
  await screenshot(page, "users");
  assert.deepEqual(page.errors, []);

  // carol is no admin: the audit log is refused, and says why
  const other = await openPage(browser, keel.url + "/#/admin");
  await signIn(other, ["carol", "carol-long-passphrase"]);
  await other.waitForSelector("[role=alert] >> text=/permission/i");
});
