#!/usr/bin/python3
# Why this exists: the batch benchmark's input -- N rows of the breast-cancer model's 30
# features (its signature's column names), drawn around the fixture's golden rows with a
# fixed seed so every run scores the same file. Usage: gen_rows.py ROWS > file.csv
import csv
import random
import sys
from pathlib import Path

FIX = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
rows = list(csv.reader(open(FIX / "golden" / "xgb-booster-binary" / "input.csv")))
header, base = rows[0], [[float(v) for v in r] for r in rows[1:]]
rng = random.Random(42)
out = sys.stdout
out.write(",".join(header) + "\n")
n = int(sys.argv[1])
for i in range(n):
    b = base[i % len(base)]
    out.write(",".join(repr(round(v * rng.uniform(0.9, 1.1), 6)) for v in b))
    out.write("\n")
