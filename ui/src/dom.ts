// dom.ts -- building elements without HTML strings.
//
// Everything the UI shows comes from the API, and names, tags and artifact
// contents are whatever users logged: they become text nodes and attribute
// values here, never markup, so nothing logged can run in the page.

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") {
        el.addEventListener(k.slice(2).toLowerCase(), v as EventListener);
      } else if (k === "class") {
        el.className = String(v);
      } else if (v === true) {
        el.setAttribute(k, "");
      } else {
        el.setAttribute(k, String(v));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else if (c instanceof Node) parent.appendChild(c);
    else parent.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el: Node): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** A link inside the UI: `route` is the part after '#'. */
export function link(route: string, ...children: Child[]): HTMLAnchorElement {
  return h("a", { href: "#" + route }, ...children);
}

export function fmtTime(ms: number | string | undefined | null): string {
  if (ms === undefined || ms === null || ms === "") return "";
  const d = new Date(Number(ms));
  if (isNaN(d.getTime())) return "";
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtDuration(ms: number): string {
  if (!isFinite(ms) || ms < 0) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Numbers as people read them: few digits, exponent only when needed. */
export function fmtNumber(v: number | string | undefined | null): string {
  if (v === undefined || v === null || v === "") return "";
  const n = Number(v);
  if (!isFinite(n)) return String(v);
  // six significant digits for the very small (JavaScript writes 1e-7, 0.000001);
  // up to six decimals otherwise, whole numbers as they are
  if (n !== 0 && Math.abs(n) < 1e-4) return String(Number(n.toPrecision(6)));
  return String(Math.round(n * 1e6) / 1e6);
}

/** A message box for errors and notices; `role=alert` so tests and screen readers see it. */
export function notice(kind: "error" | "info", text: string): HTMLElement {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}
