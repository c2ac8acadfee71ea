#!/usr/bin/python3
# Why this exists: the benchmarks need a store with many runs in it (runs/search
# is specified over 100k runs x 10 params x 10 metrics, and the log-batch wrk
# bench needs pre-created run ids because wrk's Lua cannot do setup calls).
# This fills a keel (or any MLflow 2.x) server through its REST API only:
# runs/create then one runs/log-batch per run with 10 params and 10 metrics,
# from several threads, and prints the rows/s it achieved.
#
#   populate.py --url http://127.0.0.1:5077 --runs 100000 --threads 8
#   populate.py --url ... --runs 20000 --no-data --ids-out /tmp/ids.txt
import argparse
import random
import sys
import threading
import time

import requests

PARAM_VALUES = ["x", "y", "z", "w"]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", default="http://127.0.0.1:5000")
    ap.add_argument("--runs", type=int, default=100000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--experiment-name", default="bench-%d" % int(time.time() * 1000))
    ap.add_argument("--experiment-id", help="use this experiment instead of creating one")
    ap.add_argument("--no-data", action="store_true", help="only create runs (no params/metrics)")
    ap.add_argument("--ids-out", help="write the created run ids here, one a line")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    api = a.url.rstrip("/") + "/api/2.0/mlflow"

    s = requests.Session()
    if a.experiment_id:
        exp = a.experiment_id
    else:
        r = s.post(api + "/experiments/create", json={"name": a.experiment_name})
        r.raise_for_status()
        exp = r.json()["experiment_id"]

    ids = [None] * a.runs
    errors = []
    lock = threading.Lock()
    counter = [0]
    t0_ms = 1700000000000

    def worker(tid):
        sess = requests.Session()
        rnd = random.Random(a.seed * 1000 + tid)
        while True:
            with lock:
                i = counter[0]
                if i >= a.runs or len(errors) > 20:
                    return
                counter[0] += 1
            try:
                r = sess.post(api + "/runs/create",
                              json={"experiment_id": exp, "start_time": t0_ms + i})
                if r.status_code != 200:
                    raise RuntimeError("runs/create %d: %s" % (r.status_code, r.text[:300]))
                rid = r.json()["run"]["info"]["run_id"]
                ids[i] = rid
                if a.no_data:
                    continue
                body = {
                    "run_id": rid,
                    "params": [{"key": "p%d" % k, "value": rnd.choice(PARAM_VALUES)}
                               for k in range(10)],
                    "metrics": [{"key": "m%d" % k, "value": rnd.random(),
                                 "timestamp": t0_ms + i, "step": 0} for k in range(10)],
                }
                r = sess.post(api + "/runs/log-batch", json=body)
                if r.status_code != 200:
                    raise RuntimeError("runs/log-batch %d: %s" % (r.status_code, r.text[:300]))
            except Exception as e:  # keep going, but report
                with lock:
                    errors.append(str(e))

    start = time.time()
    th = [threading.Thread(target=worker, args=(t,)) for t in range(a.threads)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    el = time.time() - start

    made = [x for x in ids if x]
    if a.ids_out:
        with open(a.ids_out, "w") as f:
            f.write("\n".join(made) + "\n")
    rows = 0 if a.no_data else len(made) * 20
    print("experiment_id=%s runs=%d rows=%d (params+metrics) seconds=%.1f runs/s=%.0f rows/s=%.0f errors=%d"
          % (exp, len(made), rows, el, len(made) / el, rows / el, len(errors)))
    for e in errors[:5]:
        print("error:", e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
