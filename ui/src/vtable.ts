// vtable.ts -- a table that keeps only the rows in view in the page, so an
// experiment with 100,000 loaded runs scrolls as smoothly as one with ten.
//
// The scroller holds a sticky header row and a body as tall as all the rows
// (rows x a fixed row height); the rows in view, plus a few either side, are
// absolutely placed in it. Scrolling is handled at most once a frame: one read
// of scrollTop, then writes only: the elements of rows that left the view are
// refilled with the rows that entered it, so the DOM stays at O(rows in view),
// scrolling makes no new elements once the view is full, and nothing forces
// layout twice. Cells are whatever the column's render() returns: text and
// elements built with h(), never markup.
import { h } from "./dom";

export interface VColumn<R> {
  /** Stable id, e.g. "metrics.loss"; given to onSort. */
  id: string;
  label: string;
  /** Width in pixels. */
  width: number;
  align?: "left" | "right" | "center";
  sortable?: boolean;
  /** Header tooltip and accessible name; defaults to the label. */
  title?: string;
  /** Extra class on the header cell (e.g. what kind of key it is). */
  headClass?: string;
  render(row: R, index: number): Node | string;
  /** Cell tooltip, e.g. the full value behind an ellipsis. */
  tooltip?(row: R): string | undefined;
  /** A header cell of its own instead of the label (e.g. a checkbox). */
  header?(): Node;
}

export interface VSort {
  id: string;
  dir: "ASC" | "DESC";
}

export interface VTableOptions<R> {
  rowHeight?: number;
  /** Rows built beyond each edge of the view. */
  overscan?: number;
  /** onNearEnd fires once the view comes within this many rows of the end. */
  nearEnd?: number;
  onNearEnd?(): void;
  onSort?(id: string): void;
  rowAttrs?(row: R, index: number): Record<string, string>;
  /** Attributes of the scroller (e.g. data-testid, aria-label). */
  attrs?: Record<string, string>;
}

export class VTable<R> {
  readonly el: HTMLDivElement;
  private readonly head: HTMLDivElement;
  private readonly body: HTMLDivElement;
  private readonly emptyBox: HTMLDivElement;
  private readonly rh: number;
  private readonly overscan: number;
  private readonly nearEnd: number;
  private rows: R[] = [];
  private cols: VColumn<R>[] = [];
  private sort: VSort | null = null;
  /** Rows in the DOM: index -> element, always one contiguous range (in any DOM order). */
  private shown = new Map<number, HTMLElement>();
  private first = 0;
  private last = 0;
  private frame = 0;
  private viewH = 0;
  private headH = 0;
  private readonly resize: ResizeObserver;

  constructor(private readonly opts: VTableOptions<R> = {}) {
    this.rh = opts.rowHeight ?? 30;
    this.overscan = opts.overscan ?? 8;
    this.nearEnd = opts.nearEnd ?? 200;
    this.head = h("div", { class: "vt-head", role: "row", "aria-rowindex": 1 });
    this.body = h("div", { class: "vt-body", role: "rowgroup" });
    this.emptyBox = h("div", { class: "vt-empty", hidden: true });
    this.el = h(
      "div",
      { class: "vtable", role: "table", tabindex: 0, ...(opts.attrs ?? {}) },
      h("div", { role: "rowgroup", class: "vt-headgroup" }, this.head),
      this.body,
      this.emptyBox,
    );
    this.el.style.setProperty("--vt-row", this.rh + "px");
    this.el.addEventListener("scroll", () => this.schedule(), { passive: true });
    this.resize = new ResizeObserver(() => {
      // sizes are read here, where the browser has just laid out, not on scroll
      this.viewH = this.el.clientHeight;
      this.headH = this.head.offsetHeight;
      this.schedule();
    });
    this.resize.observe(this.el);
    this.setRows([]);
  }

  setColumns(cols: VColumn<R>[], sort?: VSort | null): void {
    this.cols = cols;
    if (sort !== undefined) this.sort = sort;
    const template = cols.map((c) => c.width + "px").join(" ");
    const total = cols.reduce((s, c) => s + c.width, 0);
    this.el.style.setProperty("--vt-cols", template);
    this.el.style.setProperty("--vt-width", total + "px");
    this.renderHead();
    this.rebuild();
  }

  setSort(sort: VSort | null): void {
    this.sort = sort;
    this.renderHead();
  }

  /** Replaces every row and goes back to the top. */
  setRows(rows: R[]): void {
    this.rows = rows;
    this.el.scrollTop = 0;
    this.sizeBody();
    this.rebuild();
  }

  /** Adds rows at the end (the next page); rows in view stay as they are. */
  appendRows(more: R[]): void {
    for (const r of more) this.rows.push(r);
    this.sizeBody();
    this.schedule();
  }

  get length(): number {
    return this.rows.length;
  }

  /** Builds the rows in view again from new elements (e.g. after the columns changed). */
  rebuild(): void {
    for (const el of this.shown.values()) el.remove();
    this.shown.clear();
    this.first = this.last = 0;
    this.schedule();
  }

  /** Fills the rows in view again in place (e.g. after a selection changed). */
  refresh(): void {
    for (const [i, el] of this.shown) this.fill(el, i);
  }

  /** Shows `text` in place of rows when there are none ("" hides it). */
  setEmpty(text: string): void {
    this.emptyBox.textContent = text;
    this.emptyBox.hidden = !text || this.rows.length > 0;
  }

  /** Rows currently in the DOM. */
  rendered(): number {
    return this.shown.size;
  }

  destroy(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.resize.disconnect();
  }

  private sizeBody(): void {
    this.body.style.height = this.rows.length * this.rh + "px";
    this.el.setAttribute("aria-rowcount", String(this.rows.length + 1));
    if (this.rows.length) this.emptyBox.hidden = true;
    else this.emptyBox.hidden = !this.emptyBox.textContent;
  }

  private schedule(): void {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.paint());
  }

  private renderHead(): void {
    const cells = this.cols.map((c) => {
      const sorted = this.sort && this.sort.id === c.id ? this.sort.dir : null;
      const cell = h("div", {
        class: `vt-th ${c.align ?? "left"} ${c.headClass ?? ""}`,
        role: "columnheader",
        "data-col": c.id,
        title: c.title ?? c.label,
        "aria-sort": sorted === "ASC" ? "ascending" : sorted === "DESC" ? "descending" : null,
      });
      if (c.header) cell.append(c.header());
      else if (c.sortable && this.opts.onSort) {
        const onSort = this.opts.onSort;
        cell.append(
          h(
            "button",
            { type: "button", class: "vt-sort", "aria-label": `Sort by ${c.title ?? c.label}`, onclick: () => onSort(c.id) },
            h("span", { class: "vt-label" }, c.label),
            h("span", { class: "vt-arrow", "aria-hidden": "true" }, sorted === "ASC" ? "▲" : sorted === "DESC" ? "▼" : ""),
          ),
        );
      } else cell.append(h("span", { class: "vt-label" }, c.label));
      return cell;
    });
    this.head.replaceChildren(...cells);
  }

  /** A row element with one cell a column, for any row: fill() gives it its content. */
  private buildRow(): HTMLElement {
    const el = h("div", { class: "vt-row", role: "row" });
    for (const c of this.cols) el.append(h("div", { class: `vt-td ${c.align ?? "left"}`, role: "cell" }));
    return el;
  }

  /** Puts row i into `el`: position, attributes, and each cell's content. */
  private fill(el: HTMLElement, i: number): void {
    const row = this.rows[i];
    el.style.transform = `translateY(${i * this.rh}px)`;
    el.setAttribute("aria-rowindex", String(i + 2));
    el.setAttribute("data-index", String(i));
    el.className = "vt-row";
    const attrs = this.opts.rowAttrs?.(row, i);
    if (attrs) for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") el.className = v;
      else el.setAttribute(k, v);
    }
    const cells = el.children;
    for (let j = 0; j < this.cols.length; j++) {
      const c = this.cols[j];
      const cell = cells[j] as HTMLElement;
      const content = c.render(row, i);
      if (typeof content === "string") cell.textContent = content;
      else cell.replaceChildren(content);
      const tip = c.tooltip?.(row);
      if (tip) cell.title = tip;
      else if (cell.title) cell.removeAttribute("title");
    }
  }

  private paint(): void {
    this.frame = 0;
    const n = this.rows.length;
    const top = this.el.scrollTop; // the one layout read of a frame
    const viewH = this.viewH || window.innerHeight;
    const first = Math.max(0, Math.floor(Math.max(0, top - this.headH) / this.rh) - this.overscan);
    const last = Math.min(n, Math.ceil((top + viewH) / this.rh) + this.overscan);
    if (first !== this.first || last !== this.last || this.shown.size !== last - first) {
      // rows that left the view are refilled with the rows that entered it: no
      // elements made or dropped while scrolling, only contents and positions
      const free: HTMLElement[] = [];
      for (const [i, el] of this.shown) {
        if (i < first || i >= last) {
          free.push(el);
          this.shown.delete(i);
        }
      }
      let added: DocumentFragment | null = null;
      for (let i = first; i < last; i++) {
        if (this.shown.has(i)) continue;
        let el = free.pop();
        if (!el) {
          el = this.buildRow();
          (added ??= document.createDocumentFragment()).append(el);
        }
        this.fill(el, i);
        this.shown.set(i, el);
      }
      for (const el of free) el.remove();
      if (added) this.body.append(added);
      this.first = first;
      this.last = last;
    }
    if (this.opts.onNearEnd && n > 0 && last >= n - this.nearEnd) this.opts.onNearEnd();
  }
}
