"""Failover time of the lease table on the real clock, over HTTP against ``streamkit serve``.

Three workers (``LeaseCoordinator`` over aiobotocore, ``MonotonicClock``) share 8 shards of one
mapping until the load is even (3/3/2). Then one of them:

- crash: stops renewing (its task is cancelled without releasing, as a SIGKILL leaves it);
- stop: shuts down cleanly (releases its leases, then stops).

That moment falls at a random point between the workers' passes, once the load is even and no
stolen lease is still waiting. Measured: seconds from then until the two survivors hold,
*valid* (they may process them), all 8 leases between them, polled every 10 ms. A crash's bound
is T + 2 take intervals after the dead worker's last renewal (docs/scale-out.md); a clean stop
needs only the survivors' next take pass (one take interval, plus the pass's own requests).
Medians over ``--runs``, with the ratio to that bound.

    python bench/leases.py [--runs 7] [--lease-timeout 3] [--take-interval 1] [--endpoint-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# bench/http.py, first on sys.path when this script runs, would shadow the standard library's
# http package that botocore imports
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import anyio  # noqa: E402
from aiobotocore.session import get_session  # noqa: E402

from streamkit.clock import MonotonicClock  # noqa: E402
from streamkit.mappings.leases import LeaseCoordinator, ShardInfo  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/bench/stream/2026-12-06T00:00:00.000"
SHARDS = 8


@contextlib.contextmanager
def endpoint(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    process = subprocess.Popen(
        [sys.executable, "-m", "streamkit", "serve", "--port", "0", "--memory"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        yield line.split(" on ", 1)[1].split()[0]
    finally:
        process.terminate()
        process.wait(10)


async def crashable(coordinator: LeaseCoordinator) -> None:
    """``run`` without its release on exit: cancelled, it just stops (a crash)."""
    while True:
        await coordinator.renew_pass()
        await coordinator.take_pass()
        await anyio.sleep(min(coordinator.renew_interval, coordinator.take_interval))


async def one_run(client: Any, table: str, args: argparse.Namespace, crash: bool) -> float:
    clock = MonotonicClock()
    workers = [
        LeaseCoordinator(
            client,
            clock=clock,
            table=table,
            worker_id=f"w{i}",
            lease_timeout=args.lease_timeout,
            take_interval=args.take_interval,
        )
        for i in range(3)
    ]
    await workers[0].ensure_table()
    await workers[0].sync_shards("m", ARN, [ShardInfo(f"s{i}") for i in range(SHARDS)])
    victim, survivors = workers[0], workers[1:]

    def settled() -> bool:
        """Even (3/3/2), and no stolen lease still waiting out its victim."""
        valid = [len(w.valid_leases()) for w in workers]
        return sorted(valid) == [2, 3, 3] and valid == [len(w.held()) for w in workers]

    async with anyio.create_task_group() as tg:
        victim_scope = anyio.CancelScope()

        async def victim_task() -> None:
            with victim_scope:
                await (crashable(victim) if crash else victim.run())

        tg.start_soon(victim_task)
        for worker in survivors:
            tg.start_soon(worker.run)
        with anyio.fail_after(60):
            while not settled():  # noqa: ASYNC110  validity is time, no event tells it
                await anyio.sleep(0.01)
        await anyio.sleep(random.uniform(0, args.take_interval))  # at any phase of the passes
        started = time.monotonic()
        victim_scope.cancel()  # a crash stops at once; a clean stop releases on its way out
        with anyio.fail_after(60):
            while sum(len(w.valid_leases()) for w in survivors) < SHARDS:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        elapsed = time.monotonic() - started
        tg.cancel_scope.cancel()
    return elapsed


async def measure(url: str, args: argparse.Namespace) -> None:
    results: dict[str, list[float]] = {"crash": [], "stop": []}
    async with get_session().create_client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    ) as client:
        for run in range(args.runs):
            for kind in results:
                table = f"leases-{kind}-{run}"
                results[kind].append(await one_run(client, table, args, kind == "crash"))
    bound = {
        "crash": args.lease_timeout + 2 * args.take_interval,
        "stop": args.take_interval,
    }
    print(
        f"lease_timeout {args.lease_timeout:g} s, take_interval {args.take_interval:g} s, "
        f"{SHARDS} shards, 3 workers, {args.runs} runs"
    )
    for kind, times in results.items():
        median = statistics.median(times)
        print(
            f"{kind:5} median {median:6.2f} s  min {min(times):6.2f}  max {max(times):6.2f}  "
            f"bound {bound[kind]:5.2f} s  median/bound {median / bound[kind]:.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--lease-timeout", type=float, default=3.0)
    parser.add_argument("--take-interval", type=float, default=1.0)
    parser.add_argument("--endpoint-url")
    arguments = parser.parse_args()
    with endpoint(arguments.endpoint_url) as url:
        anyio.run(measure, url, arguments)
