// artifacts.ts -- a run's artifact browser: the tree from
// mlflow/artifacts/list, read one directory at a time as it is opened, and a
// preview of the selected file fetched through MLflow's /get-artifact (with
// the caller's credentials). Text, JSON, CSV/TSV, images and MLmodel files
// are previewed; file contents only ever become text nodes, images only
// <img> from a blob: address (SVG too, so its scripts never run), and
// everything else is offered as a download.
import * as api from "./api";
import { h, clear, notice } from "./dom";

interface Entry {
  path: string;
  is_dir: boolean;
  file_size?: number | string;
}

const TEXT_LIMIT = 1 << 20; // text previews: the first 1 MiB
const JSON_LIMIT = 8 << 20; // JSON is parsed whole, up to 8 MiB
const IMAGE_LIMIT = 32 << 20;
const DOWNLOAD_LIMIT = 512 << 20; // signed in, downloads go through memory
const CSV_ROWS = 500;

const TEXT_EXT = new Set([
  "txt", "log", "py", "yaml", "yml", "md", "cfg", "ini", "toml", "sh", "sql", "r", "js", "ts",
  "html", "htm", "xml", "rst", "out", "err", "conf", "properties", "ipynb", "jsonl", "ndjson",
]);
const IMAGE_TYPES: Record<string, string> = {
  png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif",
  svg: "image/svg+xml", webp: "image/webp", bmp: "image/bmp",
};

export function fmtBytes(n: number | string | undefined): string {
  if (n === undefined || n === "") return "";
  const b = Number(n);
  if (!isFinite(b)) return "";
  if (b < 1024) return `${b} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = b / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

const baseName = (p: string) => p.slice(p.lastIndexOf("/") + 1);
const extOf = (p: string) => {
  const b = baseName(p);
  const i = b.lastIndexOf(".");
  return i > 0 ? b.slice(i + 1).toLowerCase() : "";
};

type Kind = "mlmodel" | "json" | "csv" | "tsv" | "image" | "text" | "other";

function kindOf(path: string): Kind {
  const ext = extOf(path);
  if (baseName(path) === "MLmodel") return "mlmodel";
  if (ext === "json") return "json";
  if (ext === "csv") return "csv";
  if (ext === "tsv") return "tsv";
  if (ext in IMAGE_TYPES) return "image";
  if (TEXT_EXT.has(ext) || /^(README|LICENSE|requirements|Dockerfile|Makefile)/.test(baseName(path))) return "text";
  return "other";
}

/** Reads at most `limit` bytes of a response body; `cut` when there was more. */
async function readLimited(r: Response, limit: number): Promise<{ bytes: Uint8Array; cut: boolean }> {
  const reader = r.body?.getReader();
  if (!reader) {
    const all = new Uint8Array(await r.arrayBuffer());
    return { bytes: all.subarray(0, limit), cut: all.length > limit };
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  let cut = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    total += value.length;
    if (total > limit) {
      cut = true;
      await reader.cancel().catch(() => {});
      break;
    }
  }
  const bytes = new Uint8Array(Math.min(total, limit));
  let o = 0;
  for (const p of parts) {
    const n = Math.min(p.length, bytes.length - o);
    bytes.set(p.subarray(0, n), o);
    o += n;
    if (o >= bytes.length) break;
  }
  return { bytes, cut };
}

/** The full size from a 206's Content-Range ("bytes 0-99/1234"). */
function rangeTotal(r: Response): number | undefined {
  const m = /\/(\d+)\s*$/.exec(r.headers.get("Content-Range") ?? "");
  return m ? Number(m[1]) : undefined;
}

/** CSV/TSV rows (RFC 4180 quoting), at most `max` rows. A cut-off last row
 * (the byte limit fell inside it) is left out. */
export function parseDelimited(text: string, sep: string, max: number, cut: boolean): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  let i = 0;
  const n = text.length;
  let ended = false;
  while (i < n && rows.length < max) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === "") {
      quoted = true;
    } else if (c === sep) {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
    i++;
  }
  if (i >= n) ended = true;
  if (ended && !cut && (field !== "" || row.length) && rows.length < max) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

interface MLmodelInfo {
  fields: [string, string][];
  flavors: { name: string; details: [string, string][] }[];
}

/** The parts of an MLmodel (YAML) worth showing: top-level scalars and flavors. */
export function parseMLmodel(text: string): MLmodelInfo {
  const info: MLmodelInfo = { fields: [], flavors: [] };
  let section = "";
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim() || line.trimStart().startsWith("#")) continue;
    const indent = line.length - line.trimStart().length;
    const m = /^\s*([^:#]+?):\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, key, value] = m;
    if (indent === 0) {
      section = key;
      if (value && key !== "flavors" && key !== "signature") info.fields.push([key, value.replace(/^'(.*)'$/, "$1")]);
    } else if (section === "flavors") {
      if (indent <= 2) info.flavors.push({ name: key, details: [] });
      else if (indent <= 4 && value && info.flavors.length)
        info.flavors[info.flavors.length - 1].details.push([key, value.replace(/^'(.*)'$/, "$1")]);
    }
  }
  return info;
}

export interface ArtifactBrowser {
  el: HTMLElement;
  destroy(): void;
}

/** The browser for run `runId`; `path` is the file (or directory) to open,
 * `onSelect` hears of each file chosen so the address can name it. */
export function artifactBrowser(
  runId: string,
  path: string | null,
  onSelect: (path: string | null) => void,
): ArtifactBrowser {
  const ctl = new AbortController();
  const tree = h("ul", { class: "art-tree", "data-testid": "artifact-tree", role: "tree" });
  const preview = h("div", { class: "art-preview", "data-testid": "artifact-preview" });
  const status = h("div");
  const nodes = new Map<string, { li: HTMLLIElement; children: HTMLUListElement; loaded: boolean; open: boolean; entry: Entry }>();
  let selected: HTMLElement | null = null;
  let previewCtl: AbortController | null = null;
  const urls: string[] = [];

  const dropUrls = () => {
    while (urls.length) URL.revokeObjectURL(urls.pop()!);
  };

  async function list(dir: string): Promise<Entry[]> {
    const r = await api.get<{ files?: Entry[] }>("mlflow/artifacts/list", { run_id: runId, path: dir || undefined }, ctl.signal);
    return (r.files ?? []).sort((a, b) =>
      a.is_dir !== b.is_dir ? (a.is_dir ? -1 : 1) : a.path < b.path ? -1 : a.path > b.path ? 1 : 0,
    );
  }

  function fill(ul: HTMLUListElement, entries: Entry[], depth: number): void {
    clear(ul);
    if (!entries.length) ul.append(h("li", { class: "muted small", style: `padding-left:${depth + 0.4}rem` }, "(empty)"));
    for (const e of entries) {
      const children = h("ul", { role: "group", hidden: true });
      const button = h(
        "button",
        { class: "art-entry", type: "button", "data-path": e.path, "data-dir": e.is_dir ? "1" : null, style: `padding-left:${depth + 0.4}rem` },
        h("span", { class: "art-icon", "aria-hidden": "true" }, e.is_dir ? "▸" : "·"),
        h("span", { class: "art-name" }, baseName(e.path)),
        h("span", { class: "art-size muted small" }, e.is_dir ? "" : fmtBytes(e.file_size ?? 0)),
      );
      const li = h("li", { role: "treeitem" }, button, children);
      const node = { li, children, loaded: false, open: false, entry: e };
      nodes.set(e.path, node);
      button.addEventListener("click", () => {
        if (e.is_dir) toggle(e.path).catch(showError);
        else select(e.path);
      });
      ul.append(li);
    }
  }

  const showError = (e: unknown) => {
    if (!ctl.signal.aborted) status.replaceChildren(notice("error", (e as Error).message));
  };

  async function toggle(dir: string, open?: boolean): Promise<void> {
    const node = nodes.get(dir);
    if (!node) return;
    node.open = open ?? !node.open;
    node.children.hidden = !node.open;
    node.li.querySelector(".art-icon")!.textContent = node.open ? "▾" : "▸";
    if (node.open && !node.loaded) {
      node.loaded = true;
      node.children.append(h("li", { class: "muted small" }, "Loading…"));
      const depth = dir.split("/").length;
      try {
        fill(node.children, await list(dir), depth);
      } catch (e) {
        node.loaded = false;
        throw e;
      }
    }
  }

  function select(p: string): void {
    const node = nodes.get(p);
    selected?.classList.remove("selected");
    selected = node ? (node.li.firstElementChild as HTMLElement) : null;
    selected?.classList.add("selected");
    onSelect(p);
    showFile(p, node?.entry.file_size).catch((e) => {
      if (!previewCtl?.signal.aborted) preview.replaceChildren(notice("error", (e as Error).message));
    });
  }

  function fetchFile(p: string, signal: AbortSignal, limit?: number): Promise<Response> {
    return api.raw("get-artifact" + api.queryString({ run_uuid: runId, path: p }), {
      signal,
      headers: limit ? { Range: `bytes=0-${limit - 1}` } : undefined,
    });
  }

  /* Without sign-in the browser downloads the file itself, streaming it to
   * disk. Signed in, the bearer token has to go with the request, so the file
   * is fetched into memory first: only up to DOWNLOAD_LIMIT. */
  async function download(p: string, size: number | string | undefined): Promise<void> {
    const direct = "get-artifact" + api.queryString({ run_uuid: runId, path: p });
    let url = direct;
    if (api.currentUser()) {
      const n = Number(size);
      if (!(n <= DOWNLOAD_LIMIT))
        throw new Error(`${baseName(p)} is ${fmtBytes(size) || "of unknown size"}: too large to download ` +
          `through the browser while signed in; use: mlflow artifacts download --run-id ${runId} ` +
          `--artifact-path ${p}`);
      const r = await fetchFile(p, ctl.signal);
      url = URL.createObjectURL(await r.blob());
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    }
    const a = h("a", { href: url, download: baseName(p), hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
  }

  async function showFile(p: string, size: number | string | undefined): Promise<void> {
    previewCtl?.abort();
    const pc = (previewCtl = new AbortController());
    ctl.signal.addEventListener("abort", () => pc.abort(), { once: true });
    dropUrls();
    const dl = h("button", { type: "button" }, "Download");
    dl.addEventListener("click", () => download(p, size).catch(showError));
    const head = h(
      "div",
      { class: "toolbar art-head" },
      h("strong", { class: "art-path" }, p),
      h("span", { class: "muted small", "data-testid": "artifact-size" }, fmtBytes(size)),
      h("span", { class: "spacer" }),
      dl,
    );
    const body = h("div", { class: "art-body" }, h("div", { class: "loading" }, "Loading…"));
    preview.replaceChildren(head, body);
    preview.dataset.path = p;
    delete preview.dataset.kind;
    const kind = kindOf(p);
    const show = (...nodes: Node[]) => {
      if (pc.signal.aborted) return;
      body.replaceChildren(...nodes);
      preview.dataset.kind = kind;
    };

    if (kind === "other") {
      show(notice("info", `No preview for this kind of file (${fmtBytes(size) || "size unknown"}). Use Download to fetch it.`));
      return;
    }
    if (kind === "image") {
      if (!(Number(size) <= IMAGE_LIMIT)) { /* unknown counts as too large */
        show(notice("info", `This image is ${fmtBytes(size)}, too large to preview.`));
        return;
      }
      const r = await fetchFile(p, pc.signal);
      const buf = await r.arrayBuffer();
      if (pc.signal.aborted) return;
      const url = URL.createObjectURL(new Blob([buf], { type: IMAGE_TYPES[extOf(p)] }));
      urls.push(url);
      show(h("img", { src: url, alt: baseName(p), class: "art-image" }));
      return;
    }
    const limit = kind === "json" ? JSON_LIMIT : TEXT_LIMIT;
    const r = await fetchFile(p, pc.signal, limit);
    const total = rangeTotal(r) ?? (size !== undefined ? Number(size) : undefined);
    const read = await readLimited(r, limit);
    const bytes = read.bytes;
    // a ranged answer holds no more than was asked: the full size tells if there is more
    const cut = read.cut || (total !== undefined && total > bytes.length);
    if (pc.signal.aborted) return;
    const text = new TextDecoder().decode(bytes);
    const cutNote = (what: string) =>
      notice("info", `Showing ${what} of ${total !== undefined ? fmtBytes(total) : "a larger file"}; download it for the rest.`);
    const pre = (t: string) => h("pre", { class: "preview" }, t);

    if (kind === "json") {
      if (!cut) {
        try {
          show(pre(JSON.stringify(JSON.parse(text), null, 2)));
          return;
        } catch (e) {
          show(notice("info", `Not valid JSON (${(e as Error).message}); shown as text.`), pre(text.slice(0, TEXT_LIMIT)));
          return;
        }
      }
      show(cutNote("the first " + fmtBytes(TEXT_LIMIT) + " (too large to format)"), pre(text.slice(0, TEXT_LIMIT)));
      return;
    }
    if (kind === "csv" || kind === "tsv") {
      const rows = parseDelimited(text, kind === "csv" ? "," : "\t", CSV_ROWS + 1, cut);
      const [header, ...rest] = rows;
      const width = rows.reduce((m, r) => Math.max(m, r.length), 0);
      const table = h(
        "table",
        { class: "grid art-csv", "data-testid": "csv-table" },
        h("thead", null, h("tr", null, ...Array.from({ length: width }, (_, i) => h("th", null, header?.[i] ?? "")))),
        h("tbody", null, ...rest.map((r) => h("tr", null, ...Array.from({ length: width }, (_, i) => h("td", null, r[i] ?? ""))))),
      );
      const more = rows.length > CSV_ROWS || cut;
      show(
        ...(more ? [notice("info", `Showing the first ${rest.length} rows${cut ? ` of the first ${fmtBytes(TEXT_LIMIT)}` : ""}.`)] : []),
        h("div", { class: "art-scroll" }, table),
      );
      return;
    }
    if (kind === "mlmodel") {
      const info = parseMLmodel(text);
      show(
        h("h3", null, "Model"),
        h("dl", { class: "props" }, ...info.fields.flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
        h("h4", null, "Flavors"),
        h(
          "ul",
          { class: "flavors", "data-testid": "flavors" },
          ...info.flavors.map((f) =>
            h(
              "li",
              { "data-flavor": f.name },
              h("strong", null, f.name),
              f.details.length ? " — " + f.details.map(([k, v]) => `${k}: ${v}`).join(", ") : "",
            ),
          ),
        ),
        ...(cut ? [cutNote("the first " + fmtBytes(TEXT_LIMIT))] : []),
        pre(text),
      );
      return;
    }
    show(...(cut ? [cutNote("the first " + fmtBytes(TEXT_LIMIT))] : []), pre(text));
  }

  /** Opens the directories down to `p` and selects it. */
  async function reveal(p: string): Promise<void> {
    const parts = p.split("/").filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (!nodes.has(dir)) break;
      await toggle(dir, true);
    }
    const full = parts.join("/");
    const node = nodes.get(full);
    if (!node) {
      preview.replaceChildren(notice("error", `No artifact at ${full}.`));
      return;
    }
    if (node.entry.is_dir) await toggle(full, true);
    else select(full);
    node.li.scrollIntoView({ block: "nearest" });
  }

  (async () => {
    tree.append(h("li", { class: "muted small" }, "Loading…"));
    const root = await list("");
    fill(tree, root, 0);
    if (!root.length) {
      clear(tree);
      preview.replaceChildren(notice("info", "This run has no artifacts."));
      return;
    }
    if (path) await reveal(path);
    else preview.replaceChildren(h("p", { class: "muted" }, "Choose a file to preview it."));
  })().catch(showError);

  const el = h("div", { class: "art-browser" }, status, h("div", { class: "art-panes" }, h("div", { class: "art-left" }, tree), preview));
  return {
    el,
    destroy() {
      ctl.abort();
      previewCtl?.abort();
      dropUrls();
    },
  };
}
