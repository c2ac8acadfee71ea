// api.ts -- the one way the UI talks to keel: the public REST API that
// MLflow's clients and keel's CLI use, nothing private.
//
// The UI speaks MLflow 3's dialect (X-MLflow-Client-Version), in which long
// metric histories are paged. With authentication on, the UI signs in once
// with a username and password, exchanges them for a keel token
// (keel/tokens/create, valid one day) kept in sessionStorage, and sends it as
// a bearer token; X-Requested-With keeps keel from asking the browser for
// Basic credentials itself, so the UI shows its own sign-in form.

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = "keel.token";
const USER_KEY = "keel.user";

type Query = Record<string, string | number | boolean | undefined | null | string[]>;

let onSignInNeeded: () => void = () => {};

export function setSignInHandler(fn: () => void): void {
  onSignInNeeded = fn;
}

export function currentUser(): string | null {
  return sessionStorage.getItem(USER_KEY);
}

function headers(extra?: Record<string, string>): Record<string, string> {
  const h: Record<string, string> = {
    "X-Requested-With": "keel-ui",
    "X-MLflow-Client-Version": "3.0.0",
    ...extra,
  };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

export function queryString(q?: Query): string {
  if (!q) return "";
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) for (const x of v) p.append(k, x);
    else p.append(k, String(v));
  }
  const s = p.toString();
  return s ? "?" + s : "";
}

async function failure(r: Response): Promise<ApiError> {
  if (r.status === 401) onSignInNeeded();
  const text = await r.text().catch(() => "");
  try {
    const j = JSON.parse(text);
    if (j && typeof j.message === "string")
      return new ApiError(r.status, String(j.error_code ?? ""), j.message);
  } catch {
    /* not JSON: keel's plain pages */
  }
  const plain = text.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  const why =
    r.status === 401 ? "Sign in to continue." :
    r.status === 403 ? "You do not have permission to do this." :
    r.status === 429 ? "Too many attempts; try again later." :
    plain || r.statusText;
  return new ApiError(r.status, "HTTP_" + r.status, why);
}

/** Raw request to any keel path (e.g. "/metrics", "/get-artifact?..."). */
export async function raw(path: string, init?: RequestInit): Promise<Response> {
  const r = await fetch(path.replace(/^\//, ""), {
    ...init,
    headers: headers(init?.headers as Record<string, string> | undefined),
  });
  if (!r.ok) throw await failure(r);
  return r;
}

/** GET /api/2.0/<path>?<query> -> parsed JSON. */
export async function get<T = any>(path: string, q?: Query, signal?: AbortSignal): Promise<T> {
  const r = await raw("api/2.0/" + path + queryString(q), { signal });
  return (await r.json()) as T;
}

/** POST/PATCH/DELETE /api/2.0/<path> with a JSON body -> parsed JSON. */
export async function send<T = any>(method: string, path: string, body: unknown): Promise<T> {
  const r = await raw("api/2.0/" + path, {
    method,
    body: JSON.stringify(body ?? {}),
    headers: { "Content-Type": "application/json" },
  });
  const text = await r.text();
  return (text ? JSON.parse(text) : {}) as T;
}

export const post = <T = any>(path: string, body: unknown) => send<T>("POST", path, body);

/** Signs in: exchanges a password for a token; throws ApiError on refusal. */
export async function signIn(username: string, password: string): Promise<void> {
  const basic = "Basic " + btoa(unescape(encodeURIComponent(username + ":" + password)));
  const r = await fetch("api/2.0/keel/tokens/create", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "X-Requested-With": "keel-ui",
      Authorization: basic,
    },
    body: JSON.stringify({ name: "keel-ui", expires_in_days: 1 }),
  });
  if (!r.ok) {
    const e = await failure(r);
    if (r.status === 401) throw new ApiError(401, e.code, "Wrong username or password.");
    throw e;
  }
  const j = await r.json();
  sessionStorage.setItem(TOKEN_KEY, j.token);
  sessionStorage.setItem(USER_KEY, username);
}

export async function signOut(): Promise<void> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) {
    const id = token.split("_")[1];
    await send("POST", "keel/tokens/revoke", { id }).catch(() => {});
  }
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

/** Every page of a paged MLflow search, up to `limit` items. */
export async function* pages<T>(
  path: string,
  q: Query,
  field: string,
  signal?: AbortSignal,
): AsyncGenerator<T[]> {
  let token: string | undefined;
  do {
    const r: any = await get(path, { ...q, page_token: token }, signal);
    yield (r[field] ?? []) as T[];
    token = r.next_page_token;
  } while (token);
}
