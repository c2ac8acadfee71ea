// filter.ts -- MLflow filter text for values typed by users.
//
// MLflow's search filters strip a value's quotes and keep what is between
// them as written: there is no escape. A value holding a single quote goes
// in double quotes; one holding both kinds (or ending in a backslash, which
// would escape the closing quote) cannot be written, and is matched with LIKE
// and '_' in place of the offending characters; the caller then checks what
// comes back.

function quoted(s: string): string | null {
  if (s.endsWith("\\")) return null;
  if (!s.includes("'")) return `'${s}'`;
  if (!s.includes('"')) return `"${s}"`;
  return null;
}

/** `name ILIKE '%text%'` for a search box ("" for no filter). */
export function nameSearchFilter(text: string): string {
  if (!text) return "";
  const pattern = `%${text}%`;
  return `name ILIKE ${quoted(pattern) ?? `'${pattern.replace(/['"\\]/g, "_")}'`}`;
}

/** A filter for exactly `name`, and whether results must still be checked. */
export function nameEqualsFilter(name: string): { filter: string; check: boolean } {
  const q = quoted(name);
  if (q) return { filter: `name = ${q}`, check: false };
  return { filter: `name LIKE '${name.replace(/['"\\]/g, "_")}'`, check: true };
}
