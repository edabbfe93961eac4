"""Records/s handled by 1, 2 and 3 ``streamkit run --lease-table`` worker processes against a
``streamkit serve --memory --stream-shards 8`` subprocess, and failover time after SIGKILL.

- throughput: ``--records`` items are written to a fresh table first; N workers start and the
  leases settle (every lease owned, even, and held for T more so that no stolen lease is still
  waiting out its victim) while their handler waits for a go file. Measured: seconds from the
  go file until every record has been handled (counted by distinct key, from the workers' own
  files); records/s = records / that. Handler: batch size 100, appends a line per record.
- failover: three workers settle on the 8 shards; one is SIGKILLed. Measured: seconds until
  the lease table shows its shards owned by the survivors (polled every 20 ms). Bound: T + two
  take intervals (the take interval is T for ``streamkit run``).

Medians over ``--runs``.

    python bench/workers.py [--runs 3] [--records 20000] [--lease-timeout 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

# bench/http.py, first on sys.path when this script runs, would shadow the standard library's
# http package that botocore imports
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import boto3  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARDS = 8
KEYS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}

APP = """
import os, time
from pathlib import Path
import streamkit

app = streamkit.App()
GO = Path(os.environ["BENCH_GO"])

@app.on_stream(os.environ["BENCH_TABLE"], name="bench", batch_size=100,
               starting_position="TRIM_HORIZON")
def handle(event, context):
    while not GO.exists():
        time.sleep(0.01)
    with open(os.environ["BENCH_OUT"], "a") as out:
        out.write("".join(r["dynamodb"]["Keys"]["pk"]["S"] + "\\n" for r in event["Records"]))
"""


def client(url: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", **KEYS)


def start_serve() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamkit",
            "serve",
            "--port",
            "0",
            "--memory",
            "--stream-shards",
            str(SHARDS),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, line.split(" on ", 1)[1].split()[0]


def create(url: str, records: int) -> str:
    table = f"b{uuid.uuid4().hex[:10]}"
    db = client(url)
    db.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    for start in range(0, records, 25):
        items = [
            {"PutRequest": {"Item": {"pk": {"S": f"k{n}"}}}}
            for n in range(start, min(records, start + 25))
        ]
        db.batch_write_item(RequestItems={table: items})
    return table


class Run:
    def __init__(self, url: str, table: str, folder: Path, timeout: float) -> None:
        self.url, self.table, self.folder, self.timeout = url, table, folder, timeout
        self.lease_table = f"leases-{uuid.uuid4().hex[:8]}"
        self.go = folder / "go"
        self.processes: dict[str, subprocess.Popen[str]] = {}

    def start(self, names: list[str]) -> None:
        (self.folder / "bench_app.py").write_text(APP)
        for name in names:
            env = {
                **os.environ,
                "PYTHONPATH": f"{self.folder}:{ROOT}",
                "BENCH_TABLE": self.table,
                "BENCH_GO": str(self.go),
                "BENCH_OUT": str(self.folder / f"{name}.out"),
                **{k.upper(): v for k, v in KEYS.items()},
            }
            self.processes[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streamkit",
                    "run",
                    "bench_app:app",
                    "--endpoint-url",
                    self.url,
                    "--region",
                    "us-east-1",
                    "--lease-table",
                    self.lease_table,
                    "--worker-id",
                    name,
                    "--lease-timeout",
                    str(self.timeout),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        for process in self.processes.values():
            assert process.stdout is not None
            assert "streamkit running" in process.stdout.readline()

    def owners(self) -> dict[str, str | None]:
        items = client(self.url).scan(TableName=self.lease_table, ConsistentRead=True)["Items"]
        return {
            i["shardId"]["S"]: i["leaseOwner"]["S"] if "leaseOwner" in i else None for i in items
        }

    def settle(self) -> None:
        """Every lease owned by a live worker, even; then T more (stolen leases become valid)."""
        alive = set(self.processes)
        deadline = time.monotonic() + 60
        while True:
            counts = Counter(self.owners().values())
            if (
                sum(counts.values()) == SHARDS
                and set(counts) == alive
                and max(counts.values()) - min(counts.values()) <= 1
            ):
                break
            assert time.monotonic() < deadline, counts
            time.sleep(0.02)
        time.sleep(self.timeout * 1.2)

    def handled(self) -> int:
        keys: set[str] = set()
        for path in self.folder.glob("*.out"):
            keys.update(path.read_text().split())
        return len(keys)

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
        for process in self.processes.values():
            process.wait(30)
            assert process.stdout is not None
            process.stdout.close()


def throughput(url: str, workers: int, args: argparse.Namespace) -> float:
    table = create(url, args.records)
    with tempfile.TemporaryDirectory() as folder:
        run = Run(url, table, Path(folder), args.lease_timeout)
        try:
            run.start([f"w{i}" for i in range(workers)])
            run.settle()
            started = time.perf_counter()
            run.go.touch()
            while run.handled() < args.records:
                time.sleep(0.02)
            return args.records / (time.perf_counter() - started)
        finally:
            run.stop()


def failover(url: str, args: argparse.Namespace) -> float:
    table = create(url, 0)
    with tempfile.TemporaryDirectory() as folder:
        run = Run(url, table, Path(folder), args.lease_timeout)
        run.go.touch()
        try:
            run.start(["w0", "w1", "w2"])
            run.settle()
            victim = run.processes.pop("w0")
            held = {s for s, o in run.owners().items() if o == "w0"}
            killed = time.perf_counter()
            victim.kill()
            while True:
                owners = run.owners()
                if all(owners[s] not in (None, "w0") for s in held):
                    return time.perf_counter() - killed
                time.sleep(0.02)
        finally:
            victim.wait(30)
            assert victim.stdout is not None
            victim.stdout.close()
            run.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--lease-timeout", type=float, default=3.0)
    args = parser.parse_args()
    os.environ.update({k.upper(): v for k, v in KEYS.items()})
    serve, url = start_serve()
    try:
        for workers in (1, 2, 3):
            rates = [throughput(url, workers, args) for _ in range(args.runs)]
            print(
                f"{workers} worker(s): {statistics.median(rates):,.0f} records/s "
                f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})",
                flush=True,
            )
        times = [failover(url, args) for _ in range(args.runs)]
        bound = 3 * args.lease_timeout
        print(
            f"failover after SIGKILL: median {statistics.median(times):.2f} s, "
            f"min {min(times):.2f}, max {max(times):.2f}; bound T + 2 take intervals = "
            f"{bound:.2f} s, median/bound {statistics.median(times) / bound:.2f}",
            flush=True,
        )
    finally:
        serve.terminate()
        serve.wait(10)


if __name__ == "__main__":
    main()
