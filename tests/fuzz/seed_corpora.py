#!/usr/bin/python3
"""Why this exists: writes the seed corpora of the fuzz targets
(tests/fuzz/corpus/<target>/) from the shared fixtures and conformance
recordings, plus hand-picked edge cases, so a fuzzing run starts from inputs
that reach deep. Files are named by the SHA-1 of their bytes (as libFuzzer
names what it keeps). Run from the repository root:

    /usr/bin/python3 tests/fuzz/seed_corpora.py ../shared
"""
import glob
import hashlib
import json
import os
import sys
import urllib.parse

SHARED = sys.argv[1] if len(sys.argv) > 1 else "../shared"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def exchanges():
    for path in sorted(glob.glob(os.path.join(SHARED, "conformance", "*.jsonl"))):
        for line in open(path):
            yield json.loads(line)


def wire():
    for path in sorted(glob.glob(os.path.join(SHARED, "fixtures", "golden", "*", "wire",
                                              "exchanges.jsonl"))):
        for line in open(path):
            yield json.loads(line)


# csv: first byte = piece size, then the text
for path in sorted(glob.glob(os.path.join(SHARED, "fixtures", "golden", "*", "input.csv"))):
    head = "".join(open(path).readlines()[:12])
    put("csv", bytes([0]) + head.encode())
    put("csv", bytes([7]) + head.replace("\n", "\r\n").encode())
for text in ['a,b\n"x, y",2\n"multi\nline",3\n', '\ufeffa,b\n1,2\n', 'a\n""\n\n"a""b"\n',
             'a,b\r1,2\r', 'a,"b\n', 'a,b\n"q"x,1\n', ',,,\n,\n']:
    put("csv", bytes([3]) + text.encode())

# json: request and response bodies of the tracking, registry and artifact APIs
seen = set()
for ex in exchanges():
    for body in (ex.get("request_body"), ex.get("response_body")):
        if body is None:
            continue
        text = json.dumps(body)
        if len(text) < 4000 and text not in seen:
            seen.add(text)
            put("json", text)
for text in ['{"a": [1, 2.5e-3, -0, true, null, "\\u00e9\\ud83d\\ude00"]}', '[[[[[[[]]]]]]]',
             '"\\u0000"', '1e400', '{"a":1,"a":2}', ' \t\n{}\n']:
    put("json", text)

# scoring: first byte = model (bit 0) and route (bits 1-2), then the body
for ex in wire():
    body = ex.get("request_body")
    if ex.get("method") != "POST" or body is None:
        continue
    ctype = (ex.get("request_headers") or {}).get("Content-Type", "application/json")
    text = body if isinstance(body, str) else json.dumps(body)
    model = 1 if "booster" in ex.get("name", "") else 0
    route = 1 if ctype.startswith("text/csv") else 0
    for m in (0, 1):
        put("scoring", bytes([m | route << 1]) + text.encode())
    put("scoring", bytes([model | 2 << 1]) + (ctype + "\n" + text).encode())
for m in (0, 1):
    n = 4 if m == 0 else 30
    put("scoring", bytes([m | 3 << 1]) + json.dumps({"inputs": [{
        "name": "input-0", "shape": [1, n], "datatype": "FP64", "data": [0.5] * n}]}).encode())

# search: first byte = entity, then filter and order_by lines
for ex in exchanges():
    body = ex.get("request_body") if isinstance(ex.get("request_body"), dict) else {}
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(ex["path"]).query)
    filt = body.get("filter") or (q.get("filter") or [""])[0]
    order = body.get("order_by") or q.get("order_by") or []
    if not filt and not order:
        continue
    order = [o if isinstance(o, str) else o.get("field_name", "") for o in order]
    path = ex["path"]
    entity = (0 if "/runs/" in path else 1 if "/experiments/" in path
              else 2 if "registered-models" in path else 3 if "model-versions" in path else 4)
    put("search", bytes([entity]) + "\n".join([filt] + order).encode())
put("search", bytes([0]) + b"attributes.start_time > 0 and tags.`a b` = 'x'\nmetrics.m DESC")

# mlmodel: the fixtures' MLmodel files
for path in sorted(glob.glob(os.path.join(SHARED, "fixtures", "models", "*", "MLmodel"))):
    put("mlmodel", open(path, "rb").read())

# decimal: numbers as data files and clients write them
for text in ["17.99", "-0.0", "1e22", "9007199254740993", "0.1", "2.2250738585072014e-308",
             "4.9e-324", "1.7976931348623157e308", "123456789012345678901234", ".5", "5.",
             "+1E+2", "0.30000000000000004", "1e-400"]:
    put("decimal", text)
# and as lines of batch input (the first byte chooses the width decimal_parse_line asks)
for width, line in [(30, "17.99,10.38,122.8,1001.0,0.1184,0.2776,0.3001,0.1471,0.2419,0.07871,"
                         "1.095,0.9053,8.589,153.4,0.006399,0.04904,0.05373,0.01587,0.03003,"
                         "0.006193,25.38,17.33,184.6,2019.0,0.1622,0.6656,0.7119,0.2654,0.4601,"
                         "0.1189\n17.99,10.38\n"),
                    (12, "-1,+2.5,.5,5.,3,0.000001,123456789012345,-0.0,7,8,9,10\r\n1,2\n"),
                    (9, "1,2,3,4,5,6,7,8,1e5\n" + "9," * 30 + "9\n")]:
    put("decimal", bytes([width]) + line.encode())

# artifact_path: what clients send as ?path= and in artifact URLs
for text in ["model/MLmodel", "a/b/../c", "../etc/passwd", "/abs", "a//b", "a/./b", "",
             "%2e%2e/x", "dir/", "C:\\x", "a\x01b"]:
    put("artifact_path", text)

# router: byte 0 = method (bit 7: MLflow 3 dialect), the path and query, the body
METHODS = {"GET": 0, "POST": 1, "DELETE": 2, "PATCH": 3, "PUT": 4}
for ex in exchanges():
    if ex.get("method") not in METHODS:
        continue
    body = ex.get("request_body")
    text = "" if body is None else body if isinstance(body, str) else json.dumps(body)
    mlflow3 = 0x80 if "/3.0/" in ex["path"] or "logged-models" in ex["path"] else 0
    put("router", bytes([METHODS[ex["method"]] | mlflow3]) + (ex["path"] + "\n" + text).encode())
