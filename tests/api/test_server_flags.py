# keel server's numeric flags: a value outside a flag's range (or not a number at all) stops
# the server before it starts, with a message naming the flag and its range. A value is
# checked as written, before anything narrows it: 4294967306 ms is not 10 ms.
import subprocess

import pytest

from conftest import KeelServer, free_port


@pytest.mark.parametrize("flag, value", [
    ("--deployment-poll-ms", "4294967306"),  # 2^32 + 10: was taken as 10
    ("--deployment-poll-ms", "9"),
    ("--port", "65536"),
    ("--port", "-1"),
    ("--workers", "0"),
    ("--workers", "4294967297"),
    ("--max-connections", "-5"),  # strtoul wraps a sign
    ("--connection-timeout", " 7"),
    ("--prediction-log-queue", "10000001"),
    ("--prediction-log-retention-days", "1e3"),
    ("--prediction-log-segment-bytes", "1023"),
    ("--prediction-log-segment-seconds", "604801"),
    ("--max-body-bytes", "18446744073709551616"),  # 2^64
    ("--max-artifact-bytes", ""),
])
def test_an_out_of_range_flag_stops_the_server_naming_it(tmp_path, flag, value):
    cmd = KeelServer(tmp_path / "d").command(free_port()) + [flag, value]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"invalid {flag} '{value}'" in r.stderr and "an integer from" in r.stderr, r.stderr
    assert "listening" not in r.stderr


def test_the_range_ends_are_accepted(start_keel, tmp_path):
    s = start_keel(tmp_path / "d", "--deployment-poll-ms", "3600000", "--workers", "1",
                   "--prediction-log-retention-days", "0", "--connection-timeout", "1000000")
    assert s.api("GET", "/health").status_code == 200
