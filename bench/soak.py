"""Soak: a long mixed load over HTTP against ``streamkit serve --app``, sampled every minute.

Usage: python bench/soak.py [--minutes 30] [--interval 60] [--rate 100] [--out PATH_STEM]

It starts ``streamkit serve`` on a fresh data folder with an app of three mappings on the
``soak_orders`` stream (streamkit_handlers.totals keeping per-customer totals,
streamkit_handlers.archive appending TTL-expired orders to a file, and a counter that ADDs
each batch's size to an item), creates
the tables (orders with a NEW_AND_OLD_IMAGES stream, TTL on ``expires`` and a GSI on
``customer_id``), then runs ``--rate`` requests per second from boto3 worker threads: puts
(half of them with a TTL 5 to 60 s ahead, so the real-time sweeper deletes them all along),
gets, ADD updates, deletes, GSI queries, reads of the totals, and stream reads
(DescribeStream, GetShardIterator LATEST, GetRecords). Order keys and customers cycle through
fixed sets, so the data stays the same size and anything that grows is the server's doing.

Every ``--interval`` seconds it samples the server process: RSS (/proc/PID/status), open file
descriptors (/proc/PID/fd), the size of the region's SQLite ``-wal`` file, and the p50/p99 of
the client's request latencies and the error count over the interval; plus lines of the
server's log that mention an error. It writes ``OUT.md`` (a Markdown table) and, when
matplotlib is installed (``pip install -e .[bench]``), ``OUT.png``.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# bench/http.py, first on sys.path when this script runs, would shadow the standard library's
# http package that botocore imports
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ORDERS = "soak_orders"
TOTALS = "soak_totals"
STATS = "soak_stats"
ORDER_KEYS = 5_000
CUSTOMERS = 200
WORKERS = 4

APP = textwrap.dedent(
    """\
    import os

    import streamkit
    from streamkit_handlers.archive import make_app as archive_app
    from streamkit_handlers.totals import make_app as totals_app

    app = streamkit.App()
    app.include(totals_app("soak_orders", "soak_totals"))
    app.include(archive_app("soak_orders", os.environ["SOAK_ARCHIVE"]))


    @app.on_stream("soak_orders", name="soak_count", starting_position="TRIM_HORIZON")
    async def count(event, context):
        await streamkit.current_engine().table("soak_stats").update_item(
            Key={"pk": "records"},
            UpdateExpression="ADD n :n",
            ExpressionAttributeValues={":n": len(event["Records"])},
        )
    """
)


@dataclass
class Window:
    """What the workers saw since the last sample (swapped out under the lock)."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class Sample:
    minute: float
    rss_mb: float
    fds: int
    wal_kb: float
    db_mb: float
    requests: int
    p50_ms: float
    p99_ms: float
    errors: int
    log_errors: int


class Load:
    """Worker threads issuing the mixed requests at a steady rate."""

    def __init__(self, url: str, rate: float) -> None:
        config = Config(retries={"max_attempts": 1}, read_timeout=30, connect_timeout=5)
        creds = {
            "region_name": "us-east-1",
            "aws_access_key_id": "soak",
            "aws_secret_access_key": "soak",
            "endpoint_url": url,
            "config": config,
        }
        self._ddb = [boto3.client("dynamodb", **creds) for _ in range(WORKERS)]
        self._streams = [boto3.client("dynamodbstreams", **creds) for _ in range(WORKERS)]
        self._period = WORKERS / rate
        self._lock = threading.Lock()
        self._window = Window()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.stream_arn = ""

    # -- setup ---------------------------------------------------------------------------

    def create_tables(self) -> None:
        ddb = self._ddb[0]
        ddb.create_table(
            TableName=ORDERS,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "customer_id", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by_customer",
                    "KeySchema": [
                        {"AttributeName": "customer_id", "KeyType": "HASH"},
                        {"AttributeName": "pk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        ddb.update_time_to_live(
            TableName=ORDERS,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
        )
        for name, key in ((TOTALS, "customer_id"), (STATS, "pk")):
            ddb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        self.stream_arn = ddb.describe_table(TableName=ORDERS)["Table"]["LatestStreamArn"]

    def records_counted(self) -> int:
        """Return the stream records the counting mapping has seen (the app is alive)."""
        item = self._ddb[0].get_item(TableName=STATS, Key={"pk": {"S": "records"}}).get("Item")
        return int(item["n"]["N"]) if item else 0

    # -- the load ------------------------------------------------------------------------

    def start(self) -> None:
        for n in range(WORKERS):
            thread = threading.Thread(target=self._worker, args=(n,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def take(self) -> Window:
        with self._lock:
            window, self._window = self._window, Window()
        return window

    def _worker(self, n: int) -> None:
        rng = random.Random(n)
        ddb, streams = self._ddb[n], self._streams[n]
        ops: list[tuple[int, Callable[[random.Random], Any]]] = [
            (30, lambda r: ddb.put_item(TableName=ORDERS, Item=_order(r))),
            (25, lambda r: ddb.get_item(TableName=ORDERS, Key=_key(r))),
            (15, lambda r: _update(ddb, r)),
            (5, lambda r: ddb.delete_item(TableName=ORDERS, Key=_key(r))),
            (15, lambda r: _query(ddb, r)),
            (5, lambda r: ddb.get_item(TableName=TOTALS, Key={"customer_id": _customer(r)})),
            (5, lambda r: self._read_stream(streams)),
        ]
        weights = [w for w, _ in ops]
        calls = [c for _, c in ops]
        next_at = time.monotonic()
        while not self._stop.is_set():
            (call,) = rng.choices(calls, weights)
            started = time.perf_counter()
            error = None
            try:
                call(rng)
            except Exception as exc:  # noqa: BLE001 - every failure is a figure here
                error = type(exc).__name__
            took = time.perf_counter() - started
            with self._lock:
                self._window.latencies.append(took)
                if error is not None:
                    self._window.errors[error] = self._window.errors.get(error, 0) + 1
            next_at += self._period
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = time.monotonic()  # behind: do not burst to catch up

    def _read_stream(self, streams: Any) -> None:
        shards = streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        open_shards = [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
        shard = (open_shards or shards)[-1]["ShardId"]
        iterator = streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        streams.get_records(ShardIterator=iterator, Limit=100)


def _key(rng: random.Random) -> dict[str, Any]:
    return {"pk": {"S": f"o{rng.randrange(ORDER_KEYS)}"}}


def _customer(rng: random.Random) -> dict[str, str]:
    return {"S": f"c{rng.randrange(CUSTOMERS)}"}


def _order(rng: random.Random) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_key(rng),
        "customer_id": _customer(rng),
        "total": {"N": str(rng.randrange(1, 500))},
        "status": {"S": rng.choice(["new", "paid", "shipped"])},
        "note": {"S": "x" * rng.randrange(10, 400)},
    }
    if rng.random() < 0.5:
        item["expires"] = {"N": str(int(time.time()) + rng.randrange(5, 60))}
    return item


def _update(ddb: Any, rng: random.Random) -> None:
    ddb.update_item(
        TableName=ORDERS,
        Key=_key(rng),
        UpdateExpression="ADD #t :d SET customer_id = if_not_exists(customer_id, :c)",
        ExpressionAttributeNames={"#t": "total"},
        ExpressionAttributeValues={":d": {"N": str(rng.randrange(1, 20))}, ":c": _customer(rng)},
    )


def _query(ddb: Any, rng: random.Random) -> None:
    ddb.query(
        TableName=ORDERS,
        IndexName="by_customer",
        KeyConditionExpression="customer_id = :c",
        ExpressionAttributeValues={":c": _customer(rng)},
        Limit=20,
    )


# -- the server --------------------------------------------------------------------------


def start_server(folder: Path) -> tuple[subprocess.Popen[str], str, Path]:
    (folder / "soak_app.py").write_text(APP)
    log = folder / "serve.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(folder)]),
        "SOAK_ARCHIVE": str(folder / "archive.jsonl"),
    }
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "streamkit", "serve", "--port", "0"),
                *("--data", str(folder / "data"), "--app", "soak_app:app"),
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            cwd=folder,
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    if " on http://" not in line:
        process.kill()
        raise SystemExit(f"serve did not start: {line!r}\n{log.read_text()[-2000:]}")
    return process, line.split(" on ", 1)[1].split()[0], log


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _log_errors(log: Path) -> int:
    words = ("error", "exception", "traceback")
    return sum(any(w in line.lower() for w in words) for line in log.read_text().splitlines())


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def sample(
    minute: float, pid: int, data: Path, window: Window, log: Path, seen_log_errors: int
) -> Sample:
    db = data / "us-east-1.sqlite3"
    return Sample(
        minute=minute,
        rss_mb=_rss_mb(pid),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        wal_kb=_size(db.with_name(db.name + "-wal")) / 1024,
        db_mb=_size(db) / 2**20,
        requests=len(window.latencies),
        p50_ms=_percentile(window.latencies, 0.50) * 1000,
        p99_ms=_percentile(window.latencies, 0.99) * 1000,
        errors=sum(window.errors.values()),
        log_errors=_log_errors(log) - seen_log_errors,
    )


# -- output ------------------------------------------------------------------------------


def table(samples: list[Sample]) -> str:
    rows = [
        "| minute | RSS (MB) | open fds | WAL (KB) | db (MB) | requests | p50 (ms) | p99 (ms) "
        "| errors | server log errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows.extend(
        f"| {s.minute:.1f} | {s.rss_mb:.1f} | {s.fds} | {s.wal_kb:.0f} | {s.db_mb:.1f} "
        f"| {s.requests} | {s.p50_ms:.1f} | {s.p99_ms:.1f} | {s.errors} | {s.log_errors} |"
        for s in samples
    )
    return "\n".join(rows) + "\n"


def plot(samples: list[Sample], path: Path) -> bool:
    try:
        import matplotlib  # optional: the `bench` extra

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e .[bench]): no plot", file=sys.stderr)
        return False
    minutes = [s.minute for s in samples]
    panels = [
        ("server RSS (MB)", [s.rss_mb for s in samples]),
        ("server open fds", [s.fds for s in samples]),
        ("WAL file (KB)", [s.wal_kb for s in samples]),
        ("client p99 latency (ms)", [s.p99_ms for s in samples]),
    ]
    figure, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    for ax, (title, values) in zip(axes.flat, panels, strict=True):
        ax.plot(minutes, values, marker="o", markersize=3)
        ax.set_title(title)
        ax.set_ylim(bottom=0, top=max(v for v in values if v == v) * 1.25 or 1)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("minutes")
    errors = sum(s.errors for s in samples)
    figure.suptitle(f"streamkit serve soak: {minutes[-1]:.0f} min, {errors} client errors")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--out", default="soak", help="write OUT.md and OUT.png")
    args = parser.parse_args()
    out = Path(args.out)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip() or os.environ.get("SOAK_COMMIT", "?")
    out.parent.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="streamkit-soak-") as tmp:
        folder = Path(tmp)
        process, url, log = start_server(folder)
        try:
            load = Load(url, args.rate)
            load.create_tables()
            started = time.monotonic()
            samples = [sample(0.0, process.pid, folder / "data", Window(), log, 0)]
            seen = samples[0].log_errors
            print(table(samples), end="", flush=True)
            load.start()
            end = started + args.minutes * 60
            next_sample = started + args.interval
            while next_sample <= end + 1e-6:
                time.sleep(max(0.0, next_sample - time.monotonic()))
                if process.poll() is not None:
                    raise SystemExit(f"the server exited ({process.returncode})")
                now = (time.monotonic() - started) / 60
                s = sample(now, process.pid, folder / "data", load.take(), log, seen)
                seen += s.log_errors
                samples.append(s)
                print(table([s]).splitlines()[-1], flush=True)
                next_sample += args.interval
            load.stop()
            counted = load.records_counted()
            archived = _size(folder / "archive.jsonl")
        finally:
            process.terminate()
            process.wait(timeout=30)
        errors = _log_errors(log)

    head = (
        f"Soak of `streamkit serve --app` (3 mappings, TTL, GSI, stream reads) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {args.minutes:g} min at {args.rate:g} req/s "
        f"from {WORKERS} boto3 threads, sampled every {args.interval:g} s; "
        f"commit {commit}, {os.cpu_count()} cores, Python {sys.version.split()[0]}. "
        f"Stream records counted by the counting mapping: {counted}; "
        f"TTL archive written: {archived / 1024:.0f} KB; server log error lines: {errors}.\n\n"
    )
    out.with_suffix(".md").write_text(head + table(samples))
    plotted = plot(samples, out.with_suffix(".png"))
    print(
        f"wrote {out.with_suffix('.md')}" + (f" and {out.with_suffix('.png')}" if plotted else "")
    )


if __name__ == "__main__":
    main()
