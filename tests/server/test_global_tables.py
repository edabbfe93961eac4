"""Global tables end to end (#13): boto3 and the ``streamkit replication`` CLI against a real
``streamkit serve`` on a loopback port, and a SIGKILL under replicated write load.

A real server runs on the wall clock, so these wait on conditions with a deadline (polling),
never a fixed sleep.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.server.serving import ROOT, start_serve, stop

US, EU = "us-east-1", "eu-west-1"
STREAMKIT = (sys.executable, "-m", "streamkit")
_DEADLINE = 60.0  # seconds any one condition may take on this loaded machine


def client(url: str, region: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
    )


def wait_for(condition: Callable[[], Any], what: str, timeout: float = _DEADLINE) -> Any:
    """Poll ``condition`` until it answers something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = condition()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last: {answer!r})")
        time.sleep(0.02)


def replication(url: str, *args: str, check: bool = True) -> Any:
    """Run ``streamkit replication ARGS --endpoint-url url``; its JSON answer (or the process)."""
    done = subprocess.run(
        [sys.executable, "-m", "streamkit", "replication", *args, "--endpoint-url", url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        check=False,
    )
    if not check:
        return done
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout)


def links(url: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    answer = replication(url, "status")
    return {(x["TableName"], x["SourceRegion"], x["TargetRegion"]): x for x in answer["Links"]}


def create_global(us: Any, eu: Any, name: str) -> None:
    us.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    us.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    us.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": EU}}])
    eu.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 1200}
    )

    def replicas_active() -> bool:
        for regional in (us, eu):
            table = regional.describe_table(TableName=name)["Table"]
            statuses = {r["RegionName"]: r["ReplicaStatus"] for r in table.get("Replicas", [])}
            if statuses != {US: "ACTIVE", EU: "ACTIVE"}:
                return False
        return True

    wait_for(replicas_active, "both replicas ACTIVE")


def item(regional: Any, table: str, pk: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = regional.get_item(
        TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True
    ).get("Item")
    return found


def scan(regional: Any, table: str) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    for page in regional.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for found in page["Items"]:
            assert found["pk"]["S"] not in items
            items[found["pk"]["S"]] = found
    return items


@pytest.fixture
def served() -> Iterator[str]:
    process, url, _ = start_serve("--memory")
    yield url
    assert stop(process) == 0


def test_boto3_global_table_end_to_end(served: str) -> None:
    us, eu = client(served, US), client(served, EU)
    create_global(us, eu, "orders")
    table = eu.describe_table(TableName="orders")["Table"]
    assert table["GlobalTableVersion"] == "2019.11.21"
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk"]

    us.put_item(TableName="orders", Item={"pk": {"S": "from-us"}, "n": {"N": "1"}})
    eu.put_item(TableName="orders", Item={"pk": {"S": "from-eu"}, "n": {"N": "2"}})
    for regional in (us, eu):
        for pk in ("from-us", "from-eu"):
            wait_for(functools.partial(item, regional, "orders", pk), f"{pk} everywhere")
    assert item(eu, "orders", "from-us") == {"pk": {"S": "from-us"}, "n": {"N": "1"}}
    assert item(us, "orders", "from-eu") == {"pk": {"S": "from-eu"}, "n": {"N": "2"}}

    # the same item written in both regions: both converge to one of the two writes
    us.put_item(TableName="orders", Item={"pk": {"S": "both"}, "by": {"S": US}})
    eu.put_item(TableName="orders", Item={"pk": {"S": "both"}, "by": {"S": EU}})
    wait_for(
        lambda: item(us, "orders", "both") == item(eu, "orders", "both"), "the shared item agrees"
    )
    assert item(us, "orders", "both") in (
        {"pk": {"S": "both"}, "by": {"S": US}},
        {"pk": {"S": "both"}, "by": {"S": EU}},
    )

    # a GSI added later appears in both regions, with the data written before and after
    us.put_item(TableName="orders", Item={"pk": {"S": "o1"}, "customer": {"S": "ann"}})
    us.update_table(
        TableName="orders",
        AttributeDefinitions=[{"AttributeName": "customer", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "by_customer",
                    "KeySchema": [{"AttributeName": "customer", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            }
        ],
    )
    eu.put_item(TableName="orders", Item={"pk": {"S": "o2"}, "customer": {"S": "ann"}})

    def by_customer(regional: Any) -> list[str]:
        indexes = regional.describe_table(TableName="orders")["Table"].get(
            "GlobalSecondaryIndexes", []
        )
        if [(i["IndexName"], i["IndexStatus"]) for i in indexes] != [("by_customer", "ACTIVE")]:
            return []
        found = regional.query(
            TableName="orders",
            IndexName="by_customer",
            KeyConditionExpression="customer = :c",
            ExpressionAttributeValues={":c": {"S": "ann"}},
        )["Items"]
        keys = sorted(i["pk"]["S"] for i in found)
        return keys if keys == ["o1", "o2"] else []

    for regional in (us, eu):
        assert wait_for(functools.partial(by_customer, regional), "the GSI's items") == [
            "o1",
            "o2",
        ]


def test_replication_cli_status_pause_resume(served: str) -> None:
    us, eu = client(served, US), client(served, EU)
    create_global(us, eu, "cli")
    status = links(served)
    assert set(status) == {("cli", US, EU), ("cli", EU, US)}
    assert all(not link["Paused"] for link in status.values())

    paused = replication(served, "pause", "--table", "cli", "--source", US, "--target", EU)
    assert paused["Link"]["Paused"] is True
    for n in range(5):
        us.put_item(TableName="cli", Item={"pk": {"S": f"k{n}"}})
    eu.put_item(TableName="cli", Item={"pk": {"S": "eu"}})
    # the paused direction piles up; the other one still ships
    wait_for(lambda: item(us, "cli", "eu"), "eu -> us still replicating")
    piled = wait_for(
        lambda: links(served)[("cli", US, EU)]["RecordsBehind"] >= 5 and links(served), "a backlog"
    )
    assert piled[("cli", US, EU)]["Paused"] is True
    assert piled[("cli", EU, US)]["Paused"] is False
    assert item(eu, "cli", "k0") is None

    resumed = replication(served, "resume", "--table", "cli", "--source", US, "--target", EU)
    assert resumed["Link"]["Paused"] is False
    wait_for(lambda: len(scan(eu, "cli")) == 6, "eu converges after resume")
    assert scan(eu, "cli") == scan(us, "cli")
    after = wait_for(
        lambda: all(x["RecordsBehind"] == 0 for x in links(served).values()) and links(served),
        "no backlog",
    )
    assert after[("cli", US, EU)]["LagMs"] >= 0

    table = replication(served, "status", "--output", "table", check=False)
    assert table.returncode == 0
    assert "us-east-1" in table.stdout
    assert "RecordsBehind" in table.stdout

    # a link that is not a pair of the table's replicas is refused with DynamoDB's shape
    refused = replication(
        served, "pause", "--table", "cli", "--source", US, "--target", "ap-south-1", check=False
    )
    assert refused.returncode == 1
    assert "(ResourceNotFoundException) when calling the PauseReplication" in refused.stderr


def test_replication_cli_without_a_server() -> None:
    done = replication("http://127.0.0.1:9", "status", check=False)
    assert done.returncode == 1
    assert "cannot connect to http://127.0.0.1:9" in done.stderr


class _Writer(threading.Thread):
    """Updates its region's keys round-robin until stopped or the server goes away; remembers
    what each key's last acknowledged write set (``seen``) and how many writes it acknowledged
    per key (``count``, checked with an ADD counter the server keeps)."""

    def __init__(self, url: str, region: str, table: str, keys: int) -> None:
        super().__init__(daemon=True)
        self.client = client(url, region)
        self.region, self.table, self.keys = region, table, keys
        self.seen: dict[str, int] = {}
        self.count: dict[str, int] = {}
        self.in_flight: str | None = None
        self.stopping = threading.Event()
        self.acked = 0

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            pk = f"{self.region}-{n % self.keys}"
            n += 1
            self.in_flight = pk
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key={"pk": {"S": pk}},
                    UpdateExpression="SET v = :v ADD c :one",
                    ExpressionAttributeValues={":v": {"N": str(n)}, ":one": {"N": "1"}},
                )
            except (BotoCoreError, ClientError):
                return  # the server was killed: this write is not acknowledged
            self.in_flight = None
            self.seen[pk] = n
            self.count[pk] = self.count.get(pk, 0) + 1
            self.acked += 1


def test_sigkill_under_replicated_load_converges_from_checkpoints(tmp_path: Path) -> None:
    data = tmp_path / "data"
    process, url, _ = start_serve("--data", str(data), "--replication-delay", "100ms")
    killed = False
    try:
        us, eu = client(url, US), client(url, EU)
        create_global(us, eu, "load")
        writers = [_Writer(url, US, "load", 40), _Writer(url, EU, "load", 40)]
        for writer in writers:
            writer.start()
        # under load, with replication shipping (something of each region arrived elsewhere)
        wait_for(lambda: all(w.acked >= 300 for w in writers), "300 writes in each region")
        wait_for(
            lambda: item(eu, "load", "us-east-1-0") and item(us, "load", "eu-west-1-0"), "shipping"
        )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=15)
        killed = True
        for writer in writers:
            writer.stopping.set()
            writer.join(timeout=60)
            assert not writer.is_alive()
    finally:
        if not killed:
            stop(process)
        assert process.stdout is not None
        process.stdout.close()

    # the stopped folder's links, from their persisted checkpoints
    stopped = subprocess.run(
        [sys.executable, "-m", "streamkit", "replication", "status", "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        check=True,
    )
    offline = orjson.loads(stopped.stdout)["Links"]
    assert {(x["TableName"], x["SourceRegion"], x["TargetRegion"]) for x in offline} == {
        ("load", US, EU),
        ("load", EU, US),
    }
    assert all(x["RecordsBehind"] >= 0 for x in offline)

    process, url, _ = start_serve("--data", str(data))
    try:
        us, eu = client(url, US), client(url, EU)
        wait_for(
            lambda: (
                all(x["RecordsBehind"] == 0 for x in links(url).values())
                and scan(us, "load") == scan(eu, "load")
            ),
            "both regions converge after the restart",
        )
        tables = {US: scan(us, "load"), EU: scan(eu, "load")}
        assert tables[US] == tables[EU]
        for writer in writers:
            for pk, value in writer.seen.items():
                stored = tables[US][pk]
                # every acknowledged write is there (the last one, or one in flight at the kill)
                assert int(stored["v"]["N"]) >= value
                count = int(stored["c"]["N"])
                assert count in (writer.count[pk], writer.count[pk] + (writer.in_flight == pk))
            # nothing else: only the keys written, each once (scan() checks no key twice)
        written = {pk for w in writers for pk in w.seen} | {
            w.in_flight for w in writers if w.in_flight is not None
        }
        assert set(tables[US]) <= written
        assert {pk for w in writers for pk in w.seen} <= set(tables[US])
    finally:
        assert stop(process) == 0


def test_replication_requests_are_authenticated_like_any(tmp_path: Path) -> None:
    process, url, _ = start_serve("--memory", "--auth", "AKID:s3cr3t")
    try:

        def status(key: str, secret: str) -> subprocess.CompletedProcess[str]:
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "AWS_ACCESS_KEY_ID": key,
                "AWS_SECRET_ACCESS_KEY": secret,
                "AWS_CONFIG_FILE": str(tmp_path / "none"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            }
            return subprocess.run(
                [*STREAMKIT, "replication", "status", "--endpoint-url", url],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
                cwd=ROOT,
                check=False,
            )

        good = status("AKID", "s3cr3t")
        assert good.returncode == 0, good.stderr
        assert orjson.loads(good.stdout) == {"Links": []}
        wrong = status("AKID", "wrong")
        assert wrong.returncode == 1
        assert "(InvalidSignatureException) when calling the DescribeReplication" in wrong.stderr
        unknown = status("NOBODY", "s3cr3t")
        assert unknown.returncode == 1
        assert "(UnrecognizedClientException)" in unknown.stderr
    finally:
        assert stop(process) == 0
