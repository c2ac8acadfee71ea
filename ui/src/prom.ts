// prom.ts -- reading keel's /metrics (Prometheus text format 0.0.4) in the
// browser: the deployment view turns its counters into a request rate and
// its latency histogram into percentile estimates, without a Prometheus.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseValue(s: string): number {
  if (s === "+Inf" || s === "Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (s === "NaN") return NaN;
  return s === "" ? NaN : Number(s);
}

/** Parses one `{a="x",b="y"}` label set starting at text[i] ('{'); returns the end. */
function parseLabels(text: string, i: number, out: Record<string, string>): number {
  i++; // '{'
  for (;;) {
    while (text[i] === " " || text[i] === ",") i++;
    if (i >= text.length) return i;
    if (text[i] === "}") return i + 1;
    const eq = text.indexOf("=", i);
    if (eq < 0) return text.length;
    const key = text.slice(i, eq).trim();
    i = eq + 1;
    while (text[i] === " ") i++;
    if (text[i] !== '"') return text.length;
    i++;
    let v = "";
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\" && i + 1 < text.length) {
        const c = text[i + 1];
        v += c === "n" ? "\n" : c;
        i += 2;
      } else {
        v += text[i++];
      }
    }
    out[key] = v;
    i++; // closing quote
  }
}

/** Every sample of an exposition; comments and malformed lines are skipped. */
export function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    let i = 0;
    while (i < line.length && line[i] !== "{" && line[i] !== " " && line[i] !== "\t") i++;
    const name = line.slice(0, i);
    const labels: Record<string, string> = {};
    if (line[i] === "{") i = parseLabels(line, i, labels);
    const rest = line.slice(i).trim().split(/\s+/);
    if (name && rest[0]) out.push({ name, labels, value: parseValue(rest[0]) });
  }
  return out;
}

/** The samples called `name` whose labels include every pair of `match`. */
export function select(samples: Sample[], name: string, match: Record<string, string>): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v),
  );
}

/** Sum of the values of the selected samples (0 when none). */
export function sum(samples: Sample[], name: string, match: Record<string, string>): number {
  return select(samples, name, match).reduce((a, s) => a + s.value, 0);
}

export interface Bucket {
  le: number;
  /** cumulative count of observations <= le */
  count: number;
}

/** A histogram's cumulative buckets (name without `_bucket`), sorted by bound. */
export function buckets(samples: Sample[], name: string, match: Record<string, string>): Bucket[] {
  return select(samples, name + "_bucket", match)
    .map((s) => ({ le: parseValue(s.labels.le ?? ""), count: s.value }))
    .filter((b) => !isNaN(b.le))
    .sort((a, b) => a.le - b.le);
}

/** Bucket counts of `now` minus those of `before` (same bounds): the observations in between. */
export function bucketDelta(now: Bucket[], before: Bucket[]): Bucket[] {
  return now.map((b) => {
    const old = before.find((x) => x.le === b.le);
    return { le: b.le, count: Math.max(0, b.count - (old ? old.count : 0)) };
  });
}

/**
 * The q-quantile (0..1) of a histogram, interpolated linearly inside the
 * bucket it falls in, as Prometheus' histogram_quantile() does. NaN without
 * observations; the highest finite bound when it falls in the +Inf bucket
 * (the caller says "above").
 */
export function quantile(q: number, bs: Bucket[]): number {
  if (!bs.length) return NaN;
  const total = bs[bs.length - 1].count;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of bs) {
    if (b.count >= rank) {
      if (!isFinite(b.le)) return prevLe;
      const inBucket = b.count - prevCount;
      if (inBucket <= 0) return b.le;
      return prevLe + (b.le - prevLe) * ((rank - prevCount) / inBucket);
    }
    prevLe = isFinite(b.le) ? b.le : prevLe;
    prevCount = b.count;
  }
  return prevLe;
}

/** The highest finite bucket bound: a quantile equal to it may lie above. */
export function topBound(bs: Bucket[]): number {
  const finite = bs.filter((b) => isFinite(b.le));
  return finite.length ? finite[finite.length - 1].le : NaN;
}
