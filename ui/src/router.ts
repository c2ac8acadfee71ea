// router.ts -- every view has an address after '#', so any screen can be
// shared as a link and opened again (experiment, run, filter, chart
// selection, model version). Views keep their state (filters, sorting,
// columns, selected runs) in the address's query with replaceQuery(), which
// changes the address without rebuilding the view.

export interface View {
  el: HTMLElement;
  title?: string;
  /** Called when the view is left: abort fetches, stop timers. */
  destroy?: () => void;
}

export type ViewFn = (
  params: Record<string, string>,
  query: URLSearchParams,
) => View | Promise<View>;

interface Route {
  pattern: RegExp;
  names: string[];
  view: ViewFn;
}

const routes: Route[] = [];

/** `path` like "/experiments/:id"; the last segment may be ":rest*" (matches slashes). */
export function route(path: string, view: ViewFn): void {
  const names: string[] = [];
  const re = path
    .split("/")
    .map((seg) => {
      if (seg.startsWith(":")) {
        const greedy = seg.endsWith("*");
        names.push(greedy ? seg.slice(1, -1) : seg.slice(1));
        return greedy ? "(.*)" : "([^/]+)";
      }
      return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  routes.push({ pattern: new RegExp("^" + re + "$"), names, view });
}

export function current(): { path: string; query: URLSearchParams } {
  const hash = location.hash.replace(/^#/, "") || "/";
  const q = hash.indexOf("?");
  return {
    path: q < 0 ? hash : hash.slice(0, q),
    query: new URLSearchParams(q < 0 ? "" : hash.slice(q + 1)),
  };
}

export function match(path: string): { view: ViewFn; params: Record<string, string> } | null {
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1])));
    return { view: r.view, params };
  }
  return null;
}

/** An address for `path` with `query` (empty values left out). */
export function href(path: string, query?: Record<string, string | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v) p.set(k, v);
  const s = p.toString();
  return "#" + path + (s ? "?" + s : "");
}

export function navigate(path: string, query?: Record<string, string | undefined | null>): void {
  location.hash = href(path, query);
}

/** Updates the current address's query without rebuilding the view. */
export function replaceQuery(patch: Record<string, string | undefined | null>): void {
  const { path, query } = current();
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined || v === null || v === "") query.delete(k);
    else query.set(k, v);
  }
  const s = query.toString();
  history.replaceState(null, "", "#" + path + (s ? "?" + s : ""));
}

/** Path segment for a name that may hold '/', spaces and the like. */
export const seg = (s: string) => encodeURIComponent(s);
