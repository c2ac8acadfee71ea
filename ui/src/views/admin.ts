// admin.ts -- governance in the browser: the audit log (newest first, paged
// back, its hash chain verified on request) and, with --auth, the users and
// the permissions granted to them. Admins only: keel refuses everyone else
// and the view says so.
import * as api from "../api";
import { h, clear, fmtTime, notice } from "../dom";
import { View, href, replaceQuery } from "../router";

interface AuditRow {
  seq: number;
  record: string;
  hash: string;
}

interface AuditRecord {
  seq: number;
  time: number;
  principal: string;
  action: string;
  resource?: { type: string; id: string }[];
  request?: Record<string, unknown>;
  outcome: string;
}

interface User {
  id: number;
  username: string;
  is_admin: boolean;
  experiment_permissions?: { experiment_id: string; permission: string }[];
  registered_model_permissions?: { name: string; permission: string }[];
}

const PAGE = 100;

function auditTab(signal: AbortSignal): HTMLElement {
  const body = h("tbody");
  const status = h("div");
  const verdict = h("div");
  const older = h("button", { hidden: true }, "Older records");
  let next: number | undefined;

  async function load(): Promise<void> {
    status.replaceChildren();
    try {
      const r = await api.get<{ records?: AuditRow[]; next_start_seq?: number }>(
        "keel/audit", { order: "desc", max_results: PAGE, start_seq: next }, signal);
      for (const row of r.records ?? []) body.append(line(row));
      next = r.next_start_seq;
      older.hidden = next === undefined;
      if (!body.firstChild) status.append(notice("info", "No records yet."));
    } catch (e) {
      if (!signal.aborted) status.append(notice("error", (e as Error).message));
    }
  }

  function line(row: AuditRow): HTMLTableRowElement {
    let rec: AuditRecord;
    try {
      rec = JSON.parse(row.record) as AuditRecord;
    } catch {
      return h("tr", null, h("td", null, String(row.seq)), h("td", { colspan: 5 }, row.record));
    }
    const resources = (rec.resource ?? []).map((r) => `${r.type} ${r.id}`).join(", ");
    const request = rec.request && Object.keys(rec.request).length ? JSON.stringify(rec.request) : "";
    const outcomeClass = rec.outcome === "ok" ? "ok" : rec.outcome === "denied" ? "bad" : "warn";
    return h("tr", { "data-seq": String(rec.seq) },
      h("td", { class: "num" }, String(rec.seq)),
      h("td", null, fmtTime(rec.time)),
      h("td", null, rec.principal || "—"),
      h("td", { title: request }, rec.action, request ? h("div", { class: "muted small" }, request) : null),
      h("td", null, resources),
      h("td", null, h("span", { class: `badge ${outcomeClass}` }, rec.outcome)));
  }

  const verify = h("button", {
    onclick: async () => {
      verdict.replaceChildren(h("span", { class: "loading" }, "Verifying the chain…"));
      try {
        const v = await api.get<{ ok: boolean; records: number; head: string; first_bad_seq?: number; reason?: string }>(
          "keel/audit/verify", undefined, signal);
        verdict.replaceChildren(v.ok
          ? notice("info", `Chain intact: ${v.records} records, head ${v.head.slice(0, 16)}…`)
          : notice("error", `Chain broken at record ${v.first_bad_seq}: ${v.reason}`));
      } catch (e) {
        verdict.replaceChildren(notice("error", (e as Error).message));
      }
    },
  }, "Verify chain");
  older.addEventListener("click", load);
  load();
  return h("div", { class: "page" },
    h("div", { class: "toolbar" }, verify, verdict),
    status,
    h("table", { class: "grid", "data-testid": "audit" },
      h("thead", null, h("tr", null, h("th", null, "#"), h("th", null, "Time"), h("th", null, "Who"),
        h("th", null, "Action"), h("th", null, "Resources"), h("th", null, "Outcome"))),
      body),
    older);
}

function usersTab(signal: AbortSignal): HTMLElement {
  const body = h("tbody");
  const status = h("div");

  async function load(): Promise<void> {
    try {
      const r = await api.get<{ users?: User[] }>("mlflow/users/list", undefined, signal);
      clear(body);
      for (const u of r.users ?? []) body.append(row(u));
    } catch (e) {
      if (!signal.aborted) status.replaceChildren(notice("error", (e as Error).message));
    }
  }

  async function act(fn: () => Promise<unknown>, done?: string): Promise<void> {
    status.replaceChildren();
    try {
      await fn();
      if (done) status.append(notice("info", done));
      await load();
    } catch (e) {
      status.append(notice("error", (e as Error).message));
    }
  }

  function row(u: User): HTMLTableRowElement {
    const grants = [
      ...(u.experiment_permissions ?? []).map((p) => `experiment ${p.experiment_id}: ${p.permission}`),
      ...(u.registered_model_permissions ?? []).map((p) => `model ${p.name}: ${p.permission}`),
    ];
    return h("tr", { "data-username": u.username },
      h("td", null, u.username),
      h("td", null, u.is_admin ? h("span", { class: "badge ok" }, "admin") : ""),
      h("td", { title: grants.join("\n") }, grants.length ? grants.slice(0, 3).join("; ") + (grants.length > 3 ? ` (+${grants.length - 3})` : "") : "—"),
      h("td", { class: "actions" },
        h("button", {
          onclick: () => act(() => api.send("PATCH", "mlflow/users/update-admin",
            { username: u.username, is_admin: !u.is_admin })),
        }, u.is_admin ? "Revoke admin" : "Make admin"),
        h("button", {
          class: "danger",
          onclick: () => {
            if (confirm(`Delete user ${u.username}? Their permissions and tokens go with them.`))
              act(() => api.send("DELETE", "mlflow/users/delete", { username: u.username }));
          },
        }, "Delete")));
  }

  const name = h("input", { placeholder: "username", "aria-label": "New username", autocomplete: "off" });
  const pass = h("input", { type: "password", placeholder: "password (12+ characters)", "aria-label": "New user's password", autocomplete: "new-password" });
  const create = h("form", { class: "inline" }, name, pass, h("button", { type: "submit", class: "primary" }, "Create user"));
  create.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(() => api.post("mlflow/users/create", { username: name.value.trim(), password: pass.value }),
      `User ${name.value.trim()} created.`).then(() => { pass.value = ""; });
  });

  const kind = h("select", { "aria-label": "Resource kind" },
    h("option", { value: "experiment" }, "experiment id"), h("option", { value: "model" }, "registered model"));
  const target = h("input", { placeholder: "experiment id or model name", "aria-label": "Resource" });
  const who = h("input", { placeholder: "username", "aria-label": "Grantee" });
  const level = h("select", { "aria-label": "Permission" },
    ...["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"].map((p) => h("option", { value: p }, p)));
  const grant = h("form", { class: "inline" }, kind, target, who, level,
    h("button", { type: "submit" }, "Grant"));
  grant.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const exp = kind.value === "experiment";
    const base = exp ? "mlflow/experiments/permissions/" : "mlflow/registered-models/permissions/";
    const args = exp
      ? { experiment_id: target.value.trim(), username: who.value.trim(), permission: level.value }
      : { name: target.value.trim(), username: who.value.trim(), permission: level.value };
    // change the grant the user holds, or make one
    act(async () => {
      const { permission: _, ...key } = args;
      const held = await api.get(base + "get", key).then(() => true, (e) => {
        if (e instanceof api.ApiError && e.status === 404) return false;
        throw e;
      });
      if (held) await api.send("PATCH", base + "update", args);
      else await api.post(base + "create", args);
    }, `${level.value} granted to ${who.value.trim()}.`);
  });

  load();
  return h("div", { class: "page" },
    h("h2", null, "Users"), create, status,
    h("table", { class: "grid", "data-testid": "users" },
      h("thead", null, h("tr", null, h("th", null, "User"), h("th", null, "Role"), h("th", null, "Permissions"), h("th", null, ""))),
      body),
    h("h2", null, "Grant a permission"), grant);
}

export function adminView(_p: Record<string, string>, query: URLSearchParams): View {
  const ctl = new AbortController();
  const tab = query.get("tab") === "users" ? "users" : "audit";
  const tabs = h("div", { class: "tabs" },
    h("a", { href: href("/admin", { tab: "audit" }), class: tab === "audit" ? "active" : "" }, "Audit log"),
    api.currentUser() ? h("a", { href: href("/admin", { tab: "users" }), class: tab === "users" ? "active" : "" }, "Users and permissions") : null);
  replaceQuery({ tab });
  const el = h("section", { class: "page" }, h("h1", null, "Governance"), tabs,
    tab === "users" ? usersTab(ctl.signal) : auditTab(ctl.signal));
  return { el, title: tab === "users" ? "Users" : "Audit log", destroy: () => ctl.abort() };
}
