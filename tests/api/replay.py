# Replayer for the MLflow REST conformance vectors (/work/shared/conformance/README.md):
# builds each recorded request byte-exactly, binds ${NAME} variables from the actual
# response, and compares it strictly (exact messages, key sets, int-vs-float kinds).
import http.client
import json
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

VECTORS_DIR = Path(os.environ.get(
    "KEEL_CONFORMANCE_DIR",
    Path(__file__).resolve().parents[3] / "shared" / "conformance",
))

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
# How each wildcard matches inside a longer string (as a whole value see _compare_placeholder).
WILDCARD_REGEX = {"ANY_INT": r"-?[0-9]+", "ANY_STRING": r".*", "ANY_TEXT": r"[\s\S]*"}
_PATH_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+|\*)\]")


class Unbound(Exception):
    """A request needs a placeholder that no earlier exchange has bound."""


def load_vectors(path):
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"conformance vectors not found at {path}: keel's tests expect the shared/ folder "
            "beside the repository, or KEEL_CONFORMANCE_DIR naming it")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# --- JSONPath subset: $  .key  [3]  [*] ---------------------------------------------------

def parse_jsonpath(path):
    """'$.runs[*].data' -> ('runs', '*', 'data'); ints for indexes."""
    if not path.startswith("$"):
        raise ValueError(f"JSONPath must start with $: {path!r}")
    tokens, pos = [], 1
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if not m:
            raise ValueError(f"unsupported JSONPath {path!r} at offset {pos}")
        key, idx = m.groups()
        tokens.append(key if key is not None else (idx if idx == "*" else int(idx)))
        pos = m.end()
    return tuple(tokens)


def format_path(tokens):
    return "$" + "".join(f"[{t}]" if isinstance(t, int) or t == "*" else f".{t}"
                         for t in tokens)


def jsonpath_get(doc, path):
    """Value at a concrete JSONPath; LookupError naming the first missing step."""
    tokens, cur = parse_jsonpath(path), doc
    for i, tok in enumerate(tokens):
        if tok == "*":
            raise ValueError(f"[*] is not allowed in a binding path: {path}")
        present = (isinstance(tok, int) and isinstance(cur, list) and tok < len(cur)) or \
            (isinstance(tok, str) and isinstance(cur, dict) and tok in cur)
        if not present:
            raise LookupError(f"{format_path(tokens[:i + 1])} does not exist")
        cur = cur[tok]
    return cur


def _path_matches(concrete, pattern):
    return len(concrete) == len(pattern) and all(
        p == c or (p == "*" and isinstance(c, int)) for c, p in zip(concrete, pattern))


# --- substitution ---------------------------------------------------------------------------

def _text(value):
    return value if isinstance(value, str) else json.dumps(value)


def _lookup(name, bound, unbound=None):
    """Text of a bound variable. When it is not bound: raise Unbound, or, if an unbound
    list is given, record the name there and keep the placeholder text."""
    if name in WILDCARD_REGEX or name not in bound:
        if unbound is None:
            raise Unbound(name)
        unbound.append(name)
        return None
    return _text(bound[name])


def subst_path(path, bound, unbound=None):
    """Replace placeholders by their percent-encoded value (RFC 3986 unreserved kept)."""
    def repl(m):
        value = _lookup(m.group(1), bound, unbound)
        return m.group(0) if value is None else urllib.parse.quote(value, safe="")
    return PLACEHOLDER.sub(repl, path)


def subst_body(body, bound, unbound=None):
    """Replace placeholders verbatim inside every string value of a JSON document."""
    if isinstance(body, str):
        def repl(m):
            value = _lookup(m.group(1), bound, unbound)
            return m.group(0) if value is None else value
        return PLACEHOLDER.sub(repl, body)
    if isinstance(body, list):
        return [subst_body(v, bound, unbound) for v in body]
    if isinstance(body, dict):
        return {k: subst_body(v, bound, unbound) for k, v in body.items()}
    return body


# --- comparison -----------------------------------------------------------------------------

def kind(v):
    """JSON kind; a number is 'float' iff its token had . e or E (Python parses it as float)."""
    if v is None:
        return "null"
    for t, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "string"),
                    (list, "list"), (dict, "object")):
        if isinstance(v, t):
            return name
    return type(v).__name__


def short(v, limit=200):
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= limit else s[:limit] + f"...({len(s)} chars)"


def string_pattern(expected, bound):
    """Regex for a string containing placeholders; Unbound if one is not bound yet."""
    parts, pos = [], 0
    for m in PLACEHOLDER.finditer(expected):
        parts.append(re.escape(expected[pos:m.start()]))
        name = m.group(1)
        parts.append(WILDCARD_REGEX.get(name) or re.escape(_lookup(name, bound)))
        pos = m.end()
    parts.append(re.escape(expected[pos:]))
    return re.compile("".join(parts))


class Comparator:
    """Structural comparison of an expected (recorded) value with an actual one."""

    def __init__(self, bound, unordered=()):
        self.bound = bound
        self.unordered = [parse_jsonpath(p) for p in unordered]

    def diff(self, expected, actual):
        """List of mismatch descriptions, empty when equal."""
        out = []
        self._compare(expected, actual, (), out, literal=False)
        return out

    def _compare(self, exp, act, path, out, literal):
        where = format_path(path)
        if isinstance(exp, str) and not literal and "${" in exp:
            m = PLACEHOLDER.fullmatch(exp)
            if m:
                return self._compare_placeholder(m.group(1), act, path, out)
            if not isinstance(act, str):
                out.append(f"{where}: expected string {short(exp)}, got {kind(act)} {short(act)}")
                return
            try:
                pattern = string_pattern(exp, self.bound)
            except Unbound as e:
                out.append(f"{where}: placeholder ${{{e}}} is unbound")
                return
            if not pattern.fullmatch(act):
                out.append(f"{where}: expected {short(exp)}, got {short(act)}")
            return
        if kind(exp) != kind(act):
            out.append(f"{where}: expected {kind(exp)} {short(exp)}, got {kind(act)} {short(act)}")
        elif isinstance(exp, dict):
            missing = sorted(exp.keys() - act.keys())
            extra = sorted(act.keys() - exp.keys())
            if missing:
                out.append(f"{where}: missing keys {missing}")
            if extra:
                out.append(f"{where}: unexpected keys {extra} "
                           f"(values {short({k: act[k] for k in extra})})")
            for k in exp:
                if k in act:
                    self._compare(exp[k], act[k], path + (k,), out, literal)
        elif isinstance(exp, list):
            if any(_path_matches(path, p) for p in self.unordered):
                self._compare_multiset(exp, act, path, out, literal)
                return
            if len(exp) != len(act):
                out.append(f"{where}: expected {len(exp)} elements, got {len(act)} "
                           "(common prefix compared below)")
            for i, (e, a) in enumerate(zip(exp, act)):
                self._compare(e, a, path + (i,), out, literal)
        elif exp != act:
            out.append(f"{where}: expected {short(exp)}, got {short(act)}")

    def _compare_placeholder(self, name, act, path, out):
        where = format_path(path)
        if name == "ANY_INT":
            if kind(act) != "int":
                out.append(f"{where}: expected an integer (${{ANY_INT}}), "
                           f"got {kind(act)} {short(act)}")
        elif name in WILDCARD_REGEX:
            if not isinstance(act, str):
                out.append(f"{where}: expected a string (${{{name}}}), "
                           f"got {kind(act)} {short(act)}")
        elif name not in self.bound:
            out.append(f"{where}: placeholder ${{{name}}} is unbound")
        else:  # a bound value is actual server output: compare it literally
            self._compare(self.bound[name], act, path, out, literal=True)

    def _compare_multiset(self, exp, act, path, out, literal):
        where = format_path(path)
        if len(exp) != len(act):
            out.append(f"{where}: expected {len(exp)} elements, got {len(act)} (unordered)")
        diffs = {}
        for i, e in enumerate(exp):
            for j, a in enumerate(act):
                d = []
                self._compare(e, a, path + (j,), d, literal)
                diffs[i, j] = d
        match_of_act = {}  # actual index -> expected index (maximum bipartite matching)

        def augment(i, seen):
            for j in range(len(act)):
                if not diffs[i, j] and j not in seen:
                    seen.add(j)
                    if j not in match_of_act or augment(match_of_act[j], seen):
                        match_of_act[j] = i
                        return True
            return False

        for i in range(len(exp)):
            augment(i, set())
        matched = set(match_of_act.values())
        free_act = [j for j in range(len(act)) if j not in match_of_act]
        for i, e in enumerate(exp):
            if i in matched:
                continue
            msg = f"{where}: expected element {short(e)} has no match (unordered)"
            if free_act:
                j = min(free_act, key=lambda j: len(diffs[i, j]))
                msg += f"; closest unmatched actual [{j}] differs: " + "; ".join(diffs[i, j][:5])
            out.append(msg)
        for j in free_act:
            out.append(f"{where}[{j}]: unexpected element {short(act[j])} (unordered)")


# --- one exchange -----------------------------------------------------------------------------

def _strict_json(text):
    def pairs(items):
        keys = [k for k, _ in items]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"duplicate keys {dup}")
        return dict(items)

    def constant(tok):
        raise ValueError(f"non-standard JSON token {tok}")

    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)


def media_type(content_type):
    return (content_type or "").split(";")[0].strip().lower()


@dataclass
class Result:
    name: str
    method: str
    path: str                  # as sent (substituted)
    expected_status: int
    status: int = None         # None when no response was received
    headers: dict = field(default_factory=dict)  # lower-case names
    raw: bytes = b""
    body: object = None        # parsed JSON, or the text for string expectations
    mismatches: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.mismatches

    def report(self, body_limit=3000):
        lines = [f"{self.name}: {self.method} {self.path} -> {self.status} "
                 f"(expected {self.expected_status})"]
        lines += [f"  - {m}" for m in self.mismatches]
        if self.status is None:
            return "\n".join(lines)
        text = self.raw.decode("utf-8", "replace")
        if len(text) > body_limit:
            text = text[:body_limit] + f"...({len(self.raw)} bytes)"
        lines.append(f"actual Content-Type: {self.headers.get('content-type')}")
        lines.append("actual body: " + text)
        return "\n".join(lines)


class Replayer:
    """Replays exchanges in order against base_url, keeping the bound variables."""

    def __init__(self, base_url, timeout=30.0, client_headers=None):
        """client_headers: sent with every request, as the client that made the recording
        sends them (its User-Agent), so one server can tell MLflow 2 and 3 clients apart."""
        u = urllib.parse.urlsplit(base_url)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self.client_headers = dict(client_headers or {})
        self.bound = {}

    def build_request(self, x, unbound=None):
        """(method, path, headers, body bytes or None). A placeholder that is not bound
        raises Unbound, or, given an unbound list, is recorded there and sent as text."""
        path = subst_path(x["path"], self.bound, unbound)
        body, extra = x["request_body"], x.get("request_headers")
        if self.client_headers:
            extra = {**self.client_headers, **(extra or {})}
        if body is None:
            return x["method"], path, dict(extra or {}), None
        if isinstance(body, str):
            # A text body (an artifact upload) is sent as is, except that ids the scenario
            # created are filled in: the recordings were made with the real ids (an MLmodel
            # upload names its model_id, and its size and later download depend on it).
            return x["method"], path, dict(extra or {}), subst_body(body, self.bound).encode("utf-8")
        headers = dict(extra) if x.get("request_headers") is not None else \
            {**(extra or {}), "Content-Type": "application/json"}
        body = json.dumps(subst_body(body, self.bound, unbound)).encode("utf-8")
        return x["method"], path, headers, body

    def send(self, method, path, headers, body):
        """Send exactly these headers plus Host and Content-Length (when there is a body);
        return (status, headers with lower-case names, raw body)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def run(self, x):
        """Send one exchange (even if it needs an unbound placeholder) and check it."""
        unbound = []
        method, path, headers, body = self.build_request(x, unbound)
        try:
            status, resp_headers, raw = self.send(method, path, headers, body)
        except OSError as e:
            r = Result(x["name"], method, path, x["status"])
            r.mismatches.append(f"no response: {type(e).__name__}: {e}")
        else:
            r = self.check(x, status, resp_headers, raw, method=method, path=path)
        r.mismatches[:0] = [f"request uses unbound placeholder ${{{n}}}" for n in unbound]
        return r

    def check(self, x, status, headers, raw, method=None, path=None):
        """Bind x's vars from the actual response, then compare it with the recording."""
        headers = {k.lower(): v for k, v in headers.items()}
        r = Result(x["name"], method or x["method"], path or x["path"], x["status"],
                   status, headers, raw)
        out = r.mismatches
        if status != x["status"]:
            out.append(f"status: expected {x['status']}, got {status}")
        for name, value in x["response_headers"].items():
            got = headers.get(name.lower())
            if name.lower() == "content-type":
                if media_type(got) != media_type(value):
                    out.append(f"header Content-Type: expected media type "
                               f"{media_type(value)!r}, got {got!r}")
            elif got != value:
                out.append(f"header {name}: expected {value!r}, got {got!r}")

        expected = x["response_body"]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            out.append(f"body: not UTF-8 ({e})")
            return r
        if isinstance(expected, str):
            r.body = text
            for name in x["vars"]:
                out.append(f"cannot bind {name}: the response is not JSON")
            try:
                ok = string_pattern(expected, self.bound).fullmatch(text)
            except Unbound as e:
                out.append(f"body: placeholder ${{{e}}} is unbound")
            else:
                if not ok:
                    out.append(f"body: expected raw text {short(expected, 400)}, "
                               f"got {short(text, 400)}")
            return r
        try:
            r.body = _strict_json(text)
        except ValueError as e:
            out.append(f"body: not valid JSON ({e}): {short(text, 300)}")
            for name in x["vars"]:
                out.append(f"cannot bind {name}: the response is not JSON")
            return r
        for name, jpath in x["vars"].items():
            try:
                self.bound[name] = jsonpath_get(r.body, jpath)
            except LookupError as e:
                out.append(f"cannot bind {name} from {jpath}: {e}")
        out.extend(Comparator(self.bound, x.get("unordered", ())).diff(expected, r.body))
        return r

    def run_all(self, exchanges):
        return [self.run(x) for x in exchanges]


# --- pytest glue shared by the conformance test files --------------------------------------

# What the recording clients send: MLflow 2.12 a User-Agent, MLflow 3 also its version
CLIENT_2_12 = {"User-Agent": "mlflow-python-client/2.12.2"}
CLIENT_3 = {"User-Agent": "mlflow-python-client/3.11.2", "X-MLflow-Client-Version": "3.11.2"}


def replay_all(url, exchanges, client_headers=None):
    """The whole scenario, replayed once in file order; name -> Result."""
    replayer = Replayer(url, client_headers=client_headers)
    return {x["name"]: replayer.run(x) for x in exchanges}


def pytest_params(exchanges, skip_reason):
    """One pytest param per exchange, skipped (still sent) where skip_reason(x) says so."""
    import pytest
    out = []
    for x in exchanges:
        reason = skip_reason(x)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        out.append(pytest.param(x["name"], id=x["name"], marks=marks))
    return out


def assert_ok(result, server):
    """Fails the current test with the replayer's report (and the server's end, if it died)."""
    import pytest
    if result.ok:
        return
    msg = result.report()
    if server.proc.poll() is not None:
        msg += (f"\nkeel exited with {server.proc.returncode} during the scenario; "
                f"stderr tail:\n{server.stderr()[-3000:]}")
    pytest.fail(msg, pytrace=False)
