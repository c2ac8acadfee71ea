# Unit tests of replay.py that need no keel server: they prove the replayer substitutes,
# sends and compares the way the conformance README says, and that it can fail.
import http.server
import json
import re
import threading

import pytest

import replay


def diff(expected, actual, bound=None, unordered=()):
    return replay.Comparator(bound or {}, unordered).diff(expected, actual)


def exchange(**kw):
    x = {"name": "t", "method": "GET", "path": "/p", "request_body": None, "status": 200,
         "response_body": {}, "vars": {}, "response_headers": {"Content-Type": "application/json"}}
    x.update(kw)
    return x


# --- JSONPath -------------------------------------------------------------------------------

def test_jsonpath_get():
    doc = {"run": {"info": {"run_id": "abc"}}, "a": [{"b": 1}, {"b": 2}]}
    assert replay.jsonpath_get(doc, "$.run.info.run_id") == "abc"
    assert replay.jsonpath_get(doc, "$.a[1].b") == 2
    assert replay.jsonpath_get(doc, "$") is doc
    with pytest.raises(LookupError, match=r"\$\.run\.data does not exist"):
        replay.jsonpath_get(doc, "$.run.data.tags")
    with pytest.raises(LookupError, match=r"\$\.a\[2\]"):
        replay.jsonpath_get(doc, "$.a[2].b")
    with pytest.raises(ValueError):
        replay.jsonpath_get(doc, "$.a[*].b")
    with pytest.raises(ValueError):
        replay.parse_jsonpath("$.a['b']")


def test_parse_and_format_jsonpath():
    tokens = replay.parse_jsonpath("$.runs[*].inputs.dataset_inputs[0].tags")
    assert tokens == ("runs", "*", "inputs", "dataset_inputs", 0, "tags")
    assert replay.format_path(tokens) == "$.runs[*].inputs.dataset_inputs[0].tags"


# --- substitution ---------------------------------------------------------------------------

def test_subst_path_percent_encodes_bound_values():
    bound = {"TOKEN": "eyJvZmZzZXQiOiA0fQ==", "ODD": "a+b/c d~._-é", "EXP": "7"}
    path = "/x/${EXP}/list?page_token=${TOKEN}&odd=${ODD}&already=%2F"
    assert replay.subst_path(path, bound) == (
        "/x/7/list?page_token=eyJvZmZzZXQiOiA0fQ%3D%3D&odd=a%2Bb%2Fc%20d~._-%C3%A9&already=%2F")


def test_subst_unbound_and_wildcards_in_requests():
    with pytest.raises(replay.Unbound, match="RUN_X"):
        replay.subst_path("/runs/get?run_id=${RUN_X}", {})
    with pytest.raises(replay.Unbound):
        replay.subst_body({"a": "${ANY_INT}"}, {"ANY_INT": "1"})
    unbound = []
    assert replay.subst_path("/a/${RUN_X}", {}, unbound) == "/a/${RUN_X}"
    assert unbound == ["RUN_X"]


def test_subst_body_replaces_inside_every_string_value_verbatim():
    bound = {"RUN": "r1", "TOKEN": "a+b="}
    body = {"run_id": "${RUN}", "filter": "tags.mlflow.parentRunId = '${RUN}'",
            "nested": [{"t": "${TOKEN}"}, 3, None, True], "${RUN}": 1.5}
    assert replay.subst_body(body, bound) == {
        "run_id": "r1", "filter": "tags.mlflow.parentRunId = 'r1'",
        "nested": [{"t": "a+b="}, 3, None, True], "${RUN}": 1.5}


# --- wildcards and placeholders in expectations ----------------------------------------------

@pytest.mark.parametrize("actual", [1700000000000, 0, -5])
def test_any_int_accepts_integers(actual):
    assert diff({"t": "${ANY_INT}"}, {"t": actual}) == []


@pytest.mark.parametrize("actual", ["1700000000000", 1.7e12, 17.0, True, None, [1]])
def test_any_int_rejects_everything_else(actual):
    (msg,) = diff({"t": "${ANY_INT}"}, {"t": actual})
    assert msg.startswith("$.t: expected an integer")


def test_any_int_inside_a_string():
    assert diff("v-${ANY_INT}.", "v--42.") == []
    assert diff("v-${ANY_INT}.", "v-4.2.") != []
    assert diff("v-${ANY_INT}.", "v-.") != []


def test_any_string_and_any_text_as_whole_values():
    for w in ("${ANY_STRING}", "${ANY_TEXT}"):
        assert diff([w, w], ["", "multi\nline"]) == []
        assert diff(w, 5) == ["$: expected a string (%s), got int 5" % w]


def test_any_text_inside_a_string_spans_lines():
    expected = "from ${ANY_TEXT}:\n##### File ${EXP}/nope.txt #####\nNo such file: '${ANY_TEXT}'"
    actual = "from /tmp/a\nb:\n##### File 3/nope.txt #####\nNo such file: '/srv/x\ny'"
    assert diff(expected, actual, {"EXP": "3"}) == []
    assert diff(expected, actual.replace("File 3", "File 4"), {"EXP": "3"}) != []
    assert diff("a${ANY_TEXT}z", "az") == []


def test_any_string_inside_a_string_stays_on_one_line():
    assert diff("a${ANY_STRING}z", "a-b-z") == []
    assert diff("a${ANY_STRING}z", "a\nz") != []


def test_bound_placeholders_whole_and_partial():
    bound = {"EXP": "1", "RUN": "ab12"}
    expected = {"run_id": "${RUN}", "artifact_uri": "mlflow-artifacts:/${EXP}/${RUN}/artifacts"}
    assert diff(expected, {"run_id": "ab12", "artifact_uri": "mlflow-artifacts:/1/ab12/artifacts"},
                bound) == []
    msgs = diff(expected, {"run_id": "ab13", "artifact_uri": "mlflow-artifacts:/1/ab13/artifacts"},
                bound)
    assert len(msgs) == 2 and msgs[0].startswith('$.run_id: expected "ab12", got "ab13"')


def test_bound_values_are_literal_not_patterns():
    assert diff("x/${V}", "x/a.b", {"V": "a.b"}) == []
    assert diff("x/${V}", "x/axb", {"V": "a.b"}) != []
    assert diff("${V}", "${ANY_TEXT}", {"V": "${ANY_TEXT}"}) == []
    assert diff("${V}", "anything", {"V": "${ANY_TEXT}"}) != []


def test_unbound_placeholder_in_expectation_is_a_mismatch():
    assert diff({"a": "${NOPE}"}, {"a": "x"}) == ["$.a: placeholder ${NOPE} is unbound"]
    assert diff({"a": "p/${NOPE}"}, {"a": "p/x"}) == ["$.a: placeholder ${NOPE} is unbound"]


# --- structure, kinds ------------------------------------------------------------------------

def test_key_sets_must_be_equal():
    expected = {"experiment": {"experiment_id": "1", "name": "a"}}
    assert diff(expected, {"experiment": {"experiment_id": "1", "name": "a", "tags": []}}) == [
        "$.experiment: unexpected keys ['tags'] (values {\"tags\": []})"]
    assert diff(expected, {"experiment": {"experiment_id": "1"}}) == [
        "$.experiment: missing keys ['name']"]
    assert diff({}, {"next_page_token": ""}) != []


@pytest.mark.parametrize("expected,actual", [
    (42.0, 42), (42, 42.0), (1, True), (True, 1), (0.0, False), (None, 0), ("1", 1),
    (1.7976931348623157e+308, int(1.7976931348623157e+308)),
])
def test_number_kinds_are_compared(expected, actual):
    (msg,) = diff({"value": expected}, {"value": actual})
    assert msg.startswith("$.value: expected ")


def test_kind_follows_the_json_token():
    doc = json.loads('{"a": 42.0, "b": 42, "c": 1e-05, "d": 1E3, "e": true}')
    assert [replay.kind(doc[k]) for k in "abcde"] == ["float", "int", "float", "float", "bool"]
    assert diff(json.loads('[42.0, 1e-05, -3]'), json.loads('[4.2e1, 0.00001, -3]')) == []
    assert diff(0.953, 0.9530000000000001) != []


def test_ordered_lists_compare_element_by_element():
    assert diff([1, 2], [2, 1]) == ["$[0]: expected 1, got 2", "$[1]: expected 2, got 1"]
    assert diff([1, 2], [1]) == ["$: expected 2 elements, got 1 (common prefix compared below)"]


# --- unordered lists ---------------------------------------------------------------------------

def tag(k, v):
    return {"key": k, "value": v}


def test_unordered_list_is_a_multiset():
    exp = {"tags": [tag("a", "1"), tag("b", "2"), tag("a", "1")]}
    assert diff(exp, {"tags": [tag("a", "1"), tag("a", "1"), tag("b", "2")]},
                unordered=["$.tags"]) == []
    msgs = diff(exp, {"tags": [tag("a", "1"), tag("b", "2"), tag("b", "2")]},
                unordered=["$.tags"])
    assert msgs[0].startswith('$.tags: expected element {"key": "a", "value": "1"} has no match')
    assert "closest unmatched actual [2] differs" in msgs[0]
    assert msgs[1].startswith('$.tags[2]: unexpected element {"key": "b"')
    assert diff(exp, {"tags": exp["tags"][:2]}, unordered=["$.tags"])[0] == \
        "$.tags: expected 3 elements, got 2 (unordered)"


def test_unordered_applies_only_to_the_named_lists():
    exp = {"runs": [{"id": "1", "tags": [tag("a", "1"), tag("b", "2")]},
                    {"id": "2", "tags": []}]}
    swapped_tags = {"runs": [{"id": "1", "tags": [tag("b", "2"), tag("a", "1")]},
                             {"id": "2", "tags": []}]}
    assert diff(exp, swapped_tags, unordered=["$.runs[*].tags"]) == []
    assert diff(exp, swapped_tags) != []
    swapped_runs = {"runs": exp["runs"][::-1]}
    assert diff(exp, swapped_runs, unordered=["$.runs[*].tags"]) != []
    assert diff(exp, swapped_runs, unordered=["$.runs"]) == []


def test_nested_unordered_lists():
    exp = {"runs": [{"inputs": {"dataset_inputs": [
        {"name": "d1", "tags": [tag("x", "1"), tag("y", "2")]},
        {"name": "d2", "tags": [tag("z", "3")]}]}}]}
    act = {"runs": [{"inputs": {"dataset_inputs": [
        {"name": "d2", "tags": [tag("z", "3")]},
        {"name": "d1", "tags": [tag("y", "2"), tag("x", "1")]}]}}]}
    paths = ["$.runs[*].inputs.dataset_inputs", "$.runs[*].inputs.dataset_inputs[*].tags"]
    assert diff(exp, act, unordered=paths) == []
    assert diff(exp, act, unordered=paths[:1]) != []


def test_unordered_matching_is_not_greedy():
    # "${ANY_STRING}" could take "a" first and leave the literal "a" unmatched.
    assert diff(["${ANY_STRING}", "a"], ["a", "b"], unordered=["$"]) == []


# --- one exchange: binding, status, headers, bodies -------------------------------------------

def check(x, status=200, body=b"{}", ctype="application/json", bound=None):
    r = replay.Replayer("http://127.0.0.1:1")
    r.bound.update(bound or {})
    return r, r.check(x, status, {"Content-Type": ctype}, body)


def test_vars_are_bound_from_the_actual_response_before_comparing():
    x = exchange(vars={"RUN": "$.run.info.run_id"}, unordered=["$.run.data.tags"],
                 response_body={"run": {"info": {"run_id": "${RUN}",
                                                 "artifact_uri": "m:/1/${RUN}/artifacts"},
                                        "data": {"tags": [tag("a", "1"), tag("b", "2")]}}})
    body = {"run": {"info": {"run_id": "f00d", "artifact_uri": "m:/1/f00d/artifacts"},
                    "data": {"tags": [tag("b", "2"), tag("a", "1")]}}}
    replayer, result = check(x, body=json.dumps(body).encode())
    assert result.ok, result.report()
    assert replayer.bound == {"RUN": "f00d"}


def test_binding_failure_is_reported():
    x = exchange(vars={"RUN": "$.run.info.run_id"}, response_body={"run": {}})
    replayer, result = check(x, body=b'{"run": {}}')
    assert result.mismatches == ["cannot bind RUN from $.run.info.run_id: "
                                 "$.run.info does not exist"]
    assert "RUN" not in replayer.bound


def test_status_and_media_type_are_checked():
    x = exchange(status=404, response_body={"error_code": "RESOURCE_DOES_NOT_EXIST",
                                            "message": "No Experiment with id=9 exists"})
    body = b'{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "No Experiment with id=9 exists"}'
    assert check(x, 404, body, "application/json; charset=utf-8")[1].ok
    result = check(x, 400, body, "text/html")[1]
    assert result.mismatches == [
        "status: expected 404, got 400",
        "header Content-Type: expected media type 'application/json', got 'text/html'"]
    assert "No Experiment with id=9 exists" in result.report()


def test_exact_error_message_is_the_default():
    x = exchange(status=400, response_body={"error_code": "INVALID_PARAMETER_VALUE",
                                            "message": "Missing value for parameter 'x'."})
    body = b'{"error_code": "INVALID_PARAMETER_VALUE", "message": "missing x"}'
    (msg,) = check(x, 400, body)[1].mismatches
    assert msg.startswith("$.message: expected ")


def test_raw_text_body_with_wildcards_and_extra_headers():
    x = exchange(response_body="hello ${ANY_TEXT}!",
                 response_headers={"Content-Type": "text/plain",
                                   "Content-Disposition": "attachment; filename=a.txt"})
    r = replay.Replayer("http://127.0.0.1:1")
    ok = r.check(x, 200, {"content-type": "text/plain; charset=utf-8",
                          "content-disposition": "attachment; filename=a.txt"}, b"hello \nworld!")
    assert ok.ok, ok.report()
    bad = r.check(x, 200, {"content-type": "text/plain"}, b"hello world?")
    assert bad.mismatches[0] == "header Content-Disposition: expected " \
        "'attachment; filename=a.txt', got None"
    assert bad.mismatches[1].startswith("body: expected raw text")


@pytest.mark.parametrize("body,error", [
    (b'{"a": 1, "a": 2}', "duplicate keys ['a']"),
    (b'{"a": NaN}', "non-standard JSON token NaN"),
    (b"", "not valid JSON"),
    (b"<html>", "not valid JSON"),
])
def test_strict_json_parsing(body, error):
    (msg,) = check(exchange(response_body={"a": 1}), body=body)[1].mismatches
    assert msg.startswith("body: not valid JSON") and error in msg


# --- building and sending requests ---------------------------------------------------------------

def test_build_request_body_kinds():
    r = replay.Replayer("http://127.0.0.1:1")
    r.bound["RUN"] = "r1"
    assert r.build_request(exchange(method="POST", request_body={"run_id": "${RUN}"})) == (
        "POST", "/p", {"Content-Type": "application/json"}, b'{"run_id": "r1"}')
    assert r.build_request(exchange(method="POST", request_body={"a": 1},
                                    request_headers={})) == ("POST", "/p", {}, b'{"a": 1}')
    assert r.build_request(exchange(method="PUT", request_body='{"name": ',
                                    request_headers={"Content-Type": "text/plain"})) == (
        "PUT", "/p", {"Content-Type": "text/plain"}, b'{"name": ')
    assert r.build_request(exchange(method="POST", request_body="x", request_headers={})) == (
        "POST", "/p", {}, b"x")
    assert r.build_request(exchange(path="/g?run_id=${RUN}")) == (
        "GET", "/g?run_id=r1", {}, None)
    assert r.build_request(exchange(request_body={"name": "prévision"}))[3] == \
        b'{"name": "pr\\u00e9vision"}'


class Recorder(http.server.BaseHTTPRequestHandler):
    """Records each request and answers with a canned JSON body."""
    seen = []
    reply = b'{"run": {"info": {"run_id": "abc"}}}'

    def handle_one(self):
        n = int(self.headers.get("Content-Length", 0))
        Recorder.seen.append((self.command, self.path, list(self.headers.items()),
                              self.rfile.read(n)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.reply)))
        self.end_headers()
        self.wfile.write(self.reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_requests_go_out_byte_exact(recorder):
    r = replay.Replayer(recorder)
    r.bound["TOKEN"] = "a+b="
    path = "/api/2.0/mlflow-artifacts/artifacts/1/..%2F..%2Fa%2Eb?page_token=${TOKEN}&q=a+b"
    r.run(exchange(method="PUT", path=path, request_body="raw\nbytes", request_headers={}))
    r.run(exchange(method="POST", request_body={"a": "${TOKEN}"}))
    r.run(exchange(method="DELETE"))
    (m1, p1, h1, b1), (m2, _, h2, b2), (m3, _, h3, b3) = Recorder.seen
    assert (m1, p1, b1) == ("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/..%2F..%2Fa%2Eb"
                                   "?page_token=a%2Bb%3D&q=a+b", b"raw\nbytes")
    assert [k for k, _ in h1] == ["Host", "Content-Length"]
    assert (m2, b2, dict(h2)["Content-Type"], dict(h2)["Content-Length"]) == (
        "POST", b'{"a": "a+b="}', "application/json", "13")
    assert (m3, [k for k, _ in h3], b3) == ("DELETE", ["Host"], b"")


def test_run_binds_and_reports_over_http(recorder):
    r = replay.Replayer(recorder)
    good = r.run(exchange(vars={"RUN": "$.run.info.run_id"},
                          response_body={"run": {"info": {"run_id": "${RUN}"}}}))
    assert good.ok and r.bound["RUN"] == "abc" and good.status == 200
    bad = r.run(exchange(path="/x/${NEVER}", response_body={"run": {}}))
    assert bad.mismatches[0] == "request uses unbound placeholder ${NEVER}"
    assert bad.mismatches[1] == "$.run: unexpected keys ['info'] " \
        "(values {\"info\": {\"run_id\": \"abc\"}})"
    assert Recorder.seen[-1][1] == "/x/${NEVER}"


def test_no_server_is_a_mismatch_not_a_crash():
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (msg,) = replay.Replayer(f"http://127.0.0.1:{port}").run(exchange()).mismatches
    assert msg.startswith("no response: ConnectionRefusedError")


# --- the recorded vectors themselves --------------------------------------------------------------

def test_vectors_are_replayable_in_order():
    exchanges = replay.load_vectors(replay.VECTORS_DIR / "mlflow-2.12-rest.jsonl")
    names, bound = set(), set()
    for x in exchanges:
        assert x["name"] not in names, f"duplicate exchange name {x['name']}"
        names.add(x["name"])
        request = json.dumps([x["path"], x["request_body"], x.get("request_headers")])
        for name in re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", request):
            assert name in bound, f"{x['name']}: request uses {name} before it is bound"
        for name, path in x["vars"].items():
            assert name not in bound and name not in replay.WILDCARD_REGEX, name
            assert "*" not in replay.parse_jsonpath(path)
            bound.add(name)
        for name in re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", json.dumps(x["response_body"])):
            assert name in bound or name in replay.WILDCARD_REGEX, (x["name"], name)
        for path in x.get("unordered", ()):
            replay.parse_jsonpath(path)
    assert len(exchanges) == 300
