# `keel models predict`: files scored as jobs. Batch output must equal what
# `keel models serve` answers for the same rows and what MLflow's pyfunc returned
# (../shared/fixtures/golden); CSV that is tricky but valid must read right; a cut or corrupt
# input must stop the job with the line and the reason (or, with --on-error skip, set the rows
# aside); shards must concatenate to the whole; the job must be recorded as a run.
import csv
import hashlib
import io
import json
import os
import subprocess

import pytest
import requests

from conftest import FIXTURES, KEEL_BIN, ModelServer, _shutdown, golden

IRIS = "xgb-classifier-iris"
BREAST = "xgb-booster-binary"


def iris_records(**extra):
    """The iris golden rows as JSON-lines records: {column: value, ...} plus, for row i,
    each extra key's value extra[key](i)."""
    text, _ = golden(IRIS)
    header, *rows = text.splitlines()
    cols = header.split(",")
    return [{**{k: f(i) for k, f in extra.items()},
             **{c: float(v) for c, v in zip(cols, row.split(","))}}
            for i, row in enumerate(rows)]


def iris_document():
    """The iris golden rows as MLflow's dataframe_split scoring document."""
    text, _ = golden(IRIS)
    header, *rows = text.splitlines()
    return {"dataframe_split": {"columns": header.split(","),
                                "data": [[float(v) for v in r.split(",")] for r in rows]}}


def predict(model, inp, out, *args, env=None, check=True):
    cmd = [KEEL_BIN, "models", "predict", "-m", str(FIXTURES / "models" / model), "-i", str(inp),
           "-o", str(out), *map(str, args)]
    e = dict(os.environ)
    e.pop("MLFLOW_TRACKING_URI", None)
    e.pop("KEEL_TRACKING_URI", None)
    e.update(env or {})
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=e)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def csv_predictions(path):
    rows = list(csv.DictReader(open(path, newline="")))
    return rows


@pytest.mark.parametrize("model", [BREAST, IRIS, "xgb-regressor-diabetes",
                                   "xgb-booster-binary-ubj"])
def test_csv_to_every_output_equals_pyfunc(tmp_path, model):
    text, preds = golden(model)
    inp = tmp_path / "in.csv"
    inp.write_text(text)
    predict(model, inp, tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text()) == {"predictions": preds}
    predict(model, inp, tmp_path / "out.csv")
    got = [json.loads(r["prediction"]) for r in csv_predictions(tmp_path / "out.csv")]
    assert got == preds
    predict(model, inp, tmp_path / "out.jsonl")
    got = [json.loads(line)["prediction"] for line in (tmp_path / "out.jsonl").open()]
    assert got == preds


def test_batch_equals_online_for_the_same_rows(tmp_path):
    text, _ = golden(BREAST)
    inp = tmp_path / "in.csv"
    # many copies in chunks of 7 rows on 3 threads: order and values must hold
    header, *rows = text.splitlines()
    inp.write_text(header + "\n" + "\n".join(rows * 50) + "\n")
    predict(BREAST, inp, tmp_path / "out.json", "--threads", 3, "--chunk-rows", 7)
    server = ModelServer(tmp_path / "srv", FIXTURES / "models" / BREAST).start()
    try:
        online = requests.post(server.url + "/invocations", data=inp.read_bytes(),
                               headers={"Content-Type": "text/csv"}).text
    finally:
        _shutdown([server])
    # byte for byte: the same decoder, the same model, the same number printing
    assert (tmp_path / "out.json").read_text() == online


def test_keep_columns_and_jsonl_input(tmp_path):
    _, preds = golden(IRIS)
    records = iris_records(id=lambda i: f"c-{i}")
    inp = tmp_path / "in.jsonl"
    with inp.open("w") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
        f.write("\n")  # a blank line is no row
    predict(IRIS, inp, tmp_path / "out.csv", "--keep-columns", "id")
    out = csv_predictions(tmp_path / "out.csv")
    assert [r["id"] for r in out] == [f"c-{i}" for i in range(len(records))]
    assert [int(r["prediction"]) for r in out] == preds
    predict(IRIS, inp, tmp_path / "out.jsonl", "--keep-columns", "id")
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").open()]
    assert lines[3] == {"id": "c-3", "prediction": preds[3]}


def test_tricky_csv_reads_right(tmp_path):
    text, preds = golden(IRIS)
    header, *rows = text.splitlines()
    cols = header.split(",")
    # BOM, CRLF, quoted header, a quoted id with a comma, a quote and a line break, column
    # order different from the signature, an extra column
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["note", *reversed(cols), "id"])
    for i, row in enumerate(rows):
        vals = row.split(",")
        w.writerow([f'say "hi",\nrow {i}', *reversed(vals), f"id,{i}"])
    inp = tmp_path / "in.csv"
    inp.write_bytes(b"\xef\xbb\xbf" + out.getvalue().encode())
    predict(IRIS, inp, tmp_path / "out.csv", "--keep-columns", "id,note", "--chunk-rows", 3)
    got = csv_predictions(tmp_path / "out.csv")
    assert [int(r["prediction"]) for r in got] == preds
    assert got[5]["id"] == "id,5" and got[5]["note"] == 'say "hi",\nrow 5'


def test_line_numbers_stay_right_around_quoted_line_breaks(tmp_path):
    """Rejected rows are named by their input line whether the rows before them held
    quoted line breaks or not, whatever the chunk size (chunks of plain rows count a
    row as a line; chunks with quotes count their line ends)."""
    text, _ = golden(IRIS)
    header, *rows = text.splitlines()
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["note", *header.split(",")])
    lines, bad = 2, []
    for i, row in enumerate(rows):
        note = "two\nlines" if i in (3, 4, 11) else "plain"
        vals = row.split(",")
        if i in (2, 6, 9, 15):
            vals[0] = "abc"
            bad.append(lines)
        w.writerow([note, *vals])
        lines += 1 + note.count("\n")
    inp = tmp_path / "in.csv"
    inp.write_text(out.getvalue())
    for chunk in (1, 2, 3, 5, 100):
        predict(IRIS, inp, tmp_path / "out.csv", "--on-error", "skip", "--chunk-rows", chunk)
        rejects = [json.loads(x) for x in (tmp_path / "out.csv.rejects.jsonl").open()]
        assert [x["line"] for x in rejects] == bad, (chunk, rejects)


def test_a_bad_row_stops_the_job_with_its_line_and_leaves_nothing(tmp_path):
    text, _ = golden(IRIS)
    header, *rows = text.splitlines()
    rows[12] = "abc," + rows[12].split(",", 1)[1]
    inp = tmp_path / "in.csv"
    inp.write_text(header + "\n" + "\n".join(rows) + "\n")
    r = predict(IRIS, inp, tmp_path / "out.csv", "--chunk-rows", 5, check=False)
    assert r.returncode != 0
    assert "line 14" in r.stderr and "could not convert string to float: 'abc'" in r.stderr, \
        r.stderr
    assert not list(tmp_path.glob("out.csv*")), list(tmp_path.iterdir())


def test_on_error_skip_sets_rows_aside_with_reasons(tmp_path):
    text, preds = golden(IRIS)
    header, *rows = text.splitlines()
    rows[2] = "abc," + rows[2].split(",", 1)[1]
    rows[9] = rows[9] + ",1,2,3"  # more fields than the header
    inp = tmp_path / "in.csv"
    inp.write_text(header + "\n" + "\n".join(rows) + "\n")
    r = predict(IRIS, inp, tmp_path / "out.csv", "--on-error", "skip", "--chunk-rows", 4)
    assert "18 rows scored, 2 rejected" in r.stderr, r.stderr
    got = [int(x["prediction"]) for x in csv_predictions(tmp_path / "out.csv")]
    assert got == [p for i, p in enumerate(preds) if i not in (2, 9)]
    rejects = [json.loads(x) for x in (tmp_path / "out.csv.rejects.jsonl").open()]
    assert [x["line"] for x in rejects] == [4, 11]
    assert "could not convert" in rejects[0]["reason"] and rejects[0]["row"] == rows[2]
    assert "Expected 4 fields" in rejects[1]["reason"]


def test_a_cut_input_is_scored_to_its_last_whole_row_or_refused(tmp_path):
    text, preds = golden(BREAST)
    data = text.encode()
    inp = tmp_path / "cut.csv"
    # cut in the middle of the last row: that row has too few fields -> NaN cells,
    # scored as missing values (pandas does the same); cut inside a quote -> refused
    inp.write_bytes(data[:-40])
    predict(BREAST, inp, tmp_path / "out.json")
    got = json.loads((tmp_path / "out.json").read_text())["predictions"]
    assert got[:-1] == preds[:-1] and len(got) == len(preds)
    inp.write_bytes(data + b'"unclosed,1,2\n')
    r = predict(BREAST, inp, tmp_path / "out2.json", check=False)
    assert r.returncode != 0 and "line 22" in r.stderr, r.stderr
    assert not (tmp_path / "out2.json").exists()


def test_corrupt_binary_input_is_refused_not_crashed(tmp_path):
    inp = tmp_path / "bad.csv"
    inp.write_bytes(b"a,b\n" + os.urandom(200000).replace(b"\n", b"x") + b"\n")
    r = predict(IRIS, inp, tmp_path / "out.csv", check=False)
    assert r.returncode == 1 and "keel models predict:" in r.stderr
    assert not (tmp_path / "out.csv").exists()


def test_a_kept_value_past_its_ceiling_fails_the_job_instead_of_a_truncated_row(tmp_path):
    # a kept value that is not a string is written as its JSON text, which may hold
    # 1 MiB; row 7's holds more
    rows = iris_records(blob=lambda i: list(range(200000 if i == 7 else 3)))
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(rec) + "\n" for rec in rows))
    for out in ("out.jsonl", "out.csv"):
        r = predict(IRIS, inp, tmp_path / out, "--keep-columns", "blob", check=False)
        assert r.returncode != 0, r.stderr
        assert "line 8" in r.stderr and "'blob'" in r.stderr and "1 MiB" in r.stderr, r.stderr
        assert not list(tmp_path.glob(out + "*")), list(tmp_path.iterdir())
    # the same job without the long value writes every row whole
    inp.write_text("".join(line for i, line in enumerate(inp.open()) if i != 7))
    predict(IRIS, inp, tmp_path / "out.jsonl", "--keep-columns", "blob")
    got = [json.loads(x) for x in (tmp_path / "out.jsonl").open()]
    assert len(got) == len(rows) - 1 and all(g["blob"] == [0, 1, 2] for g in got)


def test_a_failed_write_to_stdout_fails_the_job(tmp_path):
    inp = tmp_path / "in.json"
    inp.write_text(json.dumps(iris_document()))
    with open("/dev/full", "w") as full:  # every write fails with ENOSPC
        r = subprocess.run([KEEL_BIN, "models", "predict", "-m", str(FIXTURES / "models" / IRIS),
                            "-i", str(inp), "-o", "-"], stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=60)
    assert r.returncode != 0 and "cannot write -" in r.stderr, r.stderr


@pytest.mark.parametrize("n", [2, 3, 7])
def test_shards_concatenate_to_the_whole(tmp_path, n):
    text, _ = golden(BREAST)
    header, *rows = text.splitlines()
    # quoted newlines in a kept column make row starts depend on quote parity
    body = [f'"r{i}\nx",{row}' for i, row in enumerate(rows * 10)]
    inp = tmp_path / "in.csv"
    inp.write_text("note," + header + "\n" + "\n".join(body) + "\n")
    predict(BREAST, inp, tmp_path / "whole.csv", "--keep-columns", "note", "--chunk-rows", 16)
    parts = b""
    for i in range(n):
        out = tmp_path / f"part{i}.csv"
        predict(BREAST, inp, out, "--keep-columns", "note", "--shard", f"{i}/{n}",
                "--chunk-rows", 16)
        parts += out.read_bytes()
    assert parts == (tmp_path / "whole.csv").read_bytes()


def test_pipes_in_and_out(tmp_path):
    text, preds = golden(IRIS)
    r = subprocess.run([KEEL_BIN, "models", "predict", "-m", str(FIXTURES / "models" / IRIS),
                        "-i", "-", "-o", "-", "-t", "csv"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"predictions": preds}


def test_mlflow_json_document_input(tmp_path):
    _, preds = golden(IRIS)
    inp = tmp_path / "in.json"
    inp.write_text(json.dumps(iris_document()))
    predict(IRIS, inp, tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text()) == {"predictions": preds}


@pytest.mark.parametrize("args, needle", [
    (["--shard", "3/3"], "--shard"),
    (["--on-error", "maybe"], "--on-error"),
    (["--keep-columns", "nope"], "no column 'nope'"),
    (["-t", "xml"], "-t csv|jsonl|json"),
])
def test_bad_options_are_refused(tmp_path, args, needle):
    text, _ = golden(IRIS)
    inp = tmp_path / "in.csv"
    inp.write_text(text)
    r = predict(IRIS, inp, tmp_path / "out.csv", *args, check=False)
    assert r.returncode != 0 and needle in r.stderr, r.stderr
    assert not (tmp_path / "out.csv").exists()


def test_the_job_is_recorded_as_a_run(tmp_path, keel):
    text, preds = golden(IRIS)
    inp = tmp_path / "in.csv"
    inp.write_text(text)
    r = predict(IRIS, inp, tmp_path / "out.csv", "--tracking-uri", keel.url)
    assert "recorded as run" in r.stderr, r.stderr
    api = keel.url + "/api/2.0/mlflow"
    exp = requests.get(api + "/experiments/get-by-name",
                       params={"experiment_name": "batch-inference"}).json()["experiment"]
    runs = requests.post(api + "/runs/search",
                         json={"experiment_ids": [exp["experiment_id"]]}).json()["runs"]
    assert len(runs) == 1
    run = runs[0]
    assert run["info"]["status"] == "FINISHED"
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert params["model_uri"] == str(FIXTURES / "models" / IRIS)
    assert params["input"] == str(inp)
    assert tags["keel.input_sha256"] == hashlib.sha256(inp.read_bytes()).hexdigest()
    assert tags["keel.output_sha256"] == \
        hashlib.sha256((tmp_path / "out.csv").read_bytes()).hexdigest()
    assert metrics["rows"] == len(preds) and metrics["rows_rejected"] == 0
    # a failed job is recorded as FAILED, with its reason
    inp.write_text(text.replace("5.1", "abc", 1))
    r = predict(IRIS, inp, tmp_path / "out2.csv", "--tracking-uri", keel.url, check=False)
    assert r.returncode != 0
    runs = requests.post(api + "/runs/search", json={
        "experiment_ids": [exp["experiment_id"]], "filter": "attributes.status = 'FAILED'"}
    ).json()["runs"]
    assert len(runs) == 1
    assert "could not convert" in {t["key"]: t["value"] for t in runs[0]["data"]["tags"]}[
        "keel.error"]


def test_a_job_whose_record_fails_says_so_and_exits_non_zero(tmp_path, keel):
    text, preds = golden(IRIS)
    # a file name that is not UTF-8: the "input" param cannot be recorded
    inp = tmp_path / "in-\udcff.csv"
    inp.write_text(text)
    r = predict(IRIS, inp, tmp_path / "out.json", "--tracking-uri", keel.url, check=False)
    assert r.returncode == 1, r.stderr
    assert "record" in r.stderr and "incomplete" in r.stderr and "param 'input'" in r.stderr, \
        r.stderr
    assert json.loads((tmp_path / "out.json").read_text()) == {"predictions": preds}
    # no tracking server where one is named: the output is complete, the command fails
    r = predict(IRIS, tmp_path / "in-\udcff.csv", tmp_path / "out2.json", "--tracking-uri",
                "http://127.0.0.1:9", check=False)
    assert r.returncode == 1 and "not recorded" in r.stderr, r.stderr
    assert json.loads((tmp_path / "out2.json").read_text()) == {"predictions": preds}


def test_progress_only_when_asked_or_on_a_terminal(tmp_path):
    text, _ = golden(IRIS)
    inp = tmp_path / "in.csv"
    inp.write_text(text)
    quiet = predict(IRIS, inp, tmp_path / "a.csv")  # stderr is a pipe here: quiet
    # (text mode reads the progress line's \r as a line end)
    assert "keel: 20 rows," not in quiet.stderr and "20 rows scored" in quiet.stderr
    loud = predict(IRIS, inp, tmp_path / "b.csv", "--progress")
    assert "keel: 20 rows," in loud.stderr, loud.stderr
    import pty
    pid, fd = pty.fork()
    if pid == 0:  # the child: keel with a terminal for stderr
        try:
            os.execv(KEEL_BIN, [KEEL_BIN, "models", "predict", "-m",
                                str(FIXTURES / "models" / IRIS), "-i", str(inp), "-o",
                                str(tmp_path / "c.csv")])
        except OSError as e:  # said on the terminal, which the parent reads
            os.write(2, f"cannot run {KEEL_BIN}: {e}\n".encode())
        finally:  # exec failed: the child must not go on running pytest
            os._exit(127)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    assert b"\rkeel: 20 rows" in out, out
