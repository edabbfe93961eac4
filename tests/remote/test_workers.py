"""Many ``streamkit run --lease-table`` worker processes sharing an 8-shard stream of a
``streamkit serve`` process through a lease table (real processes, loopback only).

Time passes for real here (the workers' lease timeout is short, 1.5 s): the test waits on
conditions (files, the lease table) with deadlines, never for a fixed time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.remote.servers import KEYS, create_table, dynamodb, serve_process
from tests.server.serving import ROOT

SHARDS = 8
LEASE_TIMEOUT = 1.5
#: a dead worker's leases move within T + two take intervals (take interval = T), plus slack
FAILOVER_LIMIT = 3 * LEASE_TIMEOUT + 3.0
KEY_COUNT = 24


@pytest.fixture(scope="module")
def serve8() -> Iterator[str]:
    """``streamkit serve --memory --stream-shards 8``."""
    with serve_process("--stream-shards", str(SHARDS)) as url:
        yield url


class Workers:
    """The worker processes of one test, each appending to its own file."""

    def __init__(self, url: str, table: str, lease_table: str, folder: Path) -> None:
        self.url, self.table, self.lease_table, self.folder = url, table, lease_table, folder
        self.processes: dict[str, subprocess.Popen[str]] = {}

    def start(self, *names: str) -> None:
        """Start the workers (in parallel); return once each has taken its first pass."""
        started = {}
        for name in names:
            log = (self.folder / f"{name}.log").open("ab")  # the worker's JSON log lines
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "REMOTE_APP_TABLE": self.table,
                "REMOTE_APP_OUT": str(self.folder / f"{name}.txt"),
                **{k.upper(): v for k, v in KEYS.items()},
            }
            env.pop("AWS_PROFILE", None)
            started[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streamkit",
                    "run",
                    "tests.remote.workers_app:app",
                    "--endpoint-url",
                    self.url,
                    "--region",
                    "us-east-1",
                    "--lease-table",
                    self.lease_table,
                    "--worker-id",
                    name,
                    "--lease-timeout",
                    str(LEASE_TIMEOUT),
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
                cwd=ROOT,
            )
            log.close()  # the child has its own copy
        for name, process in started.items():
            assert process.stdout is not None
            line = process.stdout.readline()
            assert f"worker {name} of lease table {self.lease_table}" in line, line
            self.processes[name] = process

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()

    def stop(self, *names: str) -> None:
        """SIGTERM the workers (all at once); each must exit 0."""
        stopping = [self.processes.pop(name) for name in names]
        for process in stopping:
            process.send_signal(signal.SIGTERM)
        for process in stopping:
            try:
                assert process.wait(timeout=30) == 0
            finally:
                if process.poll() is None:
                    process.kill()
                assert process.stdout is not None
                process.stdout.close()

    def close(self) -> None:
        for name in list(self.processes):
            self.kill(name)

    def handled(self) -> list[tuple[int, str, str, int, str]]:
        """Every record handled: (monotonic ns, worker, key, version, shard), in handling
        order."""
        found = []
        for path in sorted(self.folder.glob("*.txt")):
            for line in path.read_text().splitlines():
                ns, key, version, shard = line.split()
                found.append((int(ns), path.stem, key, int(version), shard))
        found.sort(key=lambda row: row[0])  # stable: a batch's records keep their order
        return found

    def log(self, name: str) -> list[dict[str, Any]]:
        """The worker's log events (JSON lines on its stderr), in order."""
        path = self.folder / f"{name}.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{")]

    def lost_leases(self, *names: str) -> dict[str, list[str]]:
        """Shard id -> how the workers ``names`` lost its lease while holding it (their logs'
        ``lease_lost``: refused (taken by another), expired or unanswered (lapsed))."""
        lost: dict[str, list[str]] = {}
        for name in names:
            for event in self.log(name):
                if event["event"] == "lease_lost":
                    shard = event["lease"].rsplit("|", 1)[1]
                    lost.setdefault(shard, []).append(f"{name}: {event['reason']}")
        return lost

    def owners(self) -> dict[str, str | None]:
        """Shard id -> the owner of its lease (None: free)."""
        items = dynamodb(self.url).scan(TableName=self.lease_table, ConsistentRead=True)["Items"]
        return {
            item["shardId"]["S"]: item["leaseOwner"]["S"] if "leaseOwner" in item else None
            for item in items
        }


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        threading.Event().wait(0.05)


def write_versions(url: str, table: str, versions: range) -> None:
    client = dynamodb(url)
    for version in versions:
        for key in range(KEY_COUNT):
            client.put_item(
                TableName=table, Item={"pk": {"S": f"k{key}"}, "v": {"N": str(version)}}
            )


def check_order(handled: list[tuple[int, str, str, int, str]]) -> None:
    """Per key, in handling order: never a version skipped ahead (next <= previous + 1), the
    first one 0; a step back is a redelivery after a lease changed hands."""
    last: dict[str, int] = {}
    for _, worker, key, version, _ in handled:
        assert version <= last.get(key, -1) + 1, (key, last.get(key), version, worker)
        last[key] = version


def covered(workers: Workers, versions: range) -> bool:
    seen = {(key, version) for _, _, key, version, _ in workers.handled()}
    return all((f"k{k}", v) in seen for k in range(KEY_COUNT) for v in versions)


def balanced(owners: dict[str, str | None], alive: set[str]) -> bool:
    counts = Counter(owners.values())
    return (
        len(owners) == SHARDS
        and set(counts) == alive
        and max(counts.values()) - min(counts.values()) <= 1
    )


def test_workers_share_fail_over_rebalance_and_resume(serve8: str, tmp_path: Path) -> None:
    table = f"w{uuid.uuid4().hex[:10]}"
    create_table(serve8, table)
    workers = Workers(serve8, table, f"leases-{uuid.uuid4().hex[:8]}", tmp_path)
    try:
        # three workers share the 8 shards (the lease table is created by the first)
        workers.start("w1", "w2", "w3")
        wait_for(
            "3 workers holding 8 leases", lambda: balanced(workers.owners(), {"w1", "w2", "w3"})
        )

        # under load, w1 dies: its shards move to w2 and w3, nothing is skipped
        writer = threading.Thread(target=write_versions, args=(serve8, table, range(30)))
        writer.start()
        try:
            wait_for("w1 handling records", lambda: (tmp_path / "w1.txt").exists())
            held_by_w1 = {s for s, owner in workers.owners().items() if owner == "w1"}
            killed = time.monotonic()
            workers.kill("w1")
            wait_for(
                "w1's leases to move",
                lambda: all(workers.owners()[s] in ("w2", "w3") for s in held_by_w1),
                FAILOVER_LIMIT,
            )
            assert time.monotonic() - killed < FAILOVER_LIMIT
        finally:
            writer.join()
        wait_for("every record of the load", lambda: covered(workers, range(30)))
        check_order(workers.handled())

        # a new worker: the leases rebalance over w2, w3 and w4 (3, 3, 2)
        workers.start("w4")
        wait_for(
            "rebalancing to w4",
            lambda: balanced(workers.owners(), {"w2", "w3", "w4"}),
            6 * LEASE_TIMEOUT + 10,
        )
        write_versions(serve8, table, range(30, 32))
        wait_for("the records after rebalancing", lambda: covered(workers, range(32)))
        check_order(workers.handled())

        # a clean stop checkpoints and releases every lease at once (one stolen less than T
        # before keeps its hand-over open: taken T after it is seen free, as an expired one)
        workers.stop("w2", "w3", "w4")
        kept = [owner for owner in workers.owners().values() if owner is not None]
        assert kept == []
        before = len(workers.handled())

        # restarted workers resume from the checkpoints: no record handled twice (a steal
        # just before the stop refuses its victim's checkpoint, but the victim hands it over
        # in the lease, and the next owner starts after it)
        write_versions(serve8, table, range(32, 35))
        workers.start("w5", "w6", "w7")
        wait_for("the records after the restart", lambda: covered(workers, range(35)))
        handled = workers.handled()[before:]
        # at-least-once is all a lease that lapsed or changed hands while its owner was
        # working promises: a batch cut off (its handler's thread abandoned) or not yet saved
        # comes again from its next owner. Exactly once for every other shard; the workers'
        # logs name the lost leases.
        lost = workers.lost_leases("w5", "w6", "w7")
        for shard in sorted({row[4] for row in handled}):
            again = sorted((key, version) for _, _, key, version, s in handled if s == shard)
            new = sorted(set(again))
            # nothing of before the clean stop comes again, lease lost or not
            assert all(version >= 32 for _, version in new), (shard, again, lost.get(shard))
            if shard not in lost:
                assert again == new, f"records handled twice after a restart in {shard}"
        keys = {(key, version) for _, _, key, version, _ in handled}
        assert keys == {(f"k{k}", v) for k in range(KEY_COUNT) for v in range(32, 35)}
        check_order(workers.handled())
        workers.stop("w5", "w6", "w7")
    finally:
        workers.close()
