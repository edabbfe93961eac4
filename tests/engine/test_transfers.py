"""Who runs exports and imports: the runtime's worker, or the call itself on an engine alone.

The engine only records a job and queues it (streamkit/engine/transfers.py); a runtime runs
the queue in its task group (``run_transfers``); with no runtime the call runs the job before
it returns; the harness's ``drain()`` waits for the jobs; closing cancels cleanly.
"""

from __future__ import annotations

import asyncio
import gzip
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import streamkit
from streamkit.engine.transfers import TransferJob, TransferQueue
from streamkit.mappings.app import App
from streamkit.runtime import run_transfers
from streamkit.testing import ManualClock, open_harness
from tests.conftest import key_schema


def _table(name: str) -> dict[str, Any]:
    return {"TableName": name, **key_schema("pk")}


async def _orders(db: streamkit.Engine, items: int = 3) -> str:
    """Create ``orders`` with ``items`` items and PITR on; return its ARN."""
    await db.create_table(**_table("orders"))
    for i in range(items):
        await db.put_item(TableName="orders", Item={"pk": {"S": f"o{i}"}, "n": {"N": str(i)}})
    await db.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    return str((await db.describe_table(TableName="orders"))["Table"]["TableArn"])


def _big_input(db: streamkit.Engine, lines: int = 20_000) -> None:
    """Put ``lines`` DYNAMODB_JSON items (about 2.6 MB) in the bucket ``in``."""
    folder = db.s3_dir / "in"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "big.json").write_bytes(
        b"".join(
            b'{"Item":{"pk":{"S":"k%d"},"v":{"S":"%s"}}}\n' % (i, b"x" * 100) for i in range(lines)
        )
    )


def _import_params(table: str, bucket: str = "in") -> dict[str, Any]:
    return {
        "S3BucketSource": {"S3Bucket": bucket},
        "InputFormat": "DYNAMODB_JSON",
        "TableCreationParameters": _table(table),
    }


async def _until_caught_up(queue: TransferQueue) -> None:
    with anyio.fail_after(60):  # a safety net: the queue's signal wakes this
        while True:
            changed = queue.changed.waiter()
            if await queue.caught_up():
                return
            await changed.wait()


async def test_an_engine_alone_runs_the_job_inside_the_call(
    memory_engine: streamkit.Engine,
) -> None:
    """No runtime: the call answers IN_PROGRESS (DynamoDB's reply) once the job has ended."""
    db = memory_engine
    arn = await _orders(db)
    assert not db.transfers.attached
    reply = (await db.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt"))[
        "ExportDescription"
    ]
    assert reply["ExportStatus"] == "IN_PROGRESS"
    assert await db.transfers.caught_up()
    desc = (await db.describe_export(ExportArn=reply["ExportArn"]))["ExportDescription"]
    assert (desc["ExportStatus"], desc["ItemCount"]) == ("COMPLETED", 3)
    assert (db.s3_dir / "bkt" / desc["ExportManifest"]).is_file()

    folder = desc["ExportManifest"].removesuffix("manifest-summary.json")
    started = (
        await db.import_table(
            S3BucketSource={"S3Bucket": "bkt", "S3KeyPrefix": folder + "data/"},
            InputFormat="DYNAMODB_JSON",
            InputCompressionType="GZIP",
            TableCreationParameters=_table("copy"),
        )
    )["ImportTableDescription"]
    assert started["ImportStatus"] == "IN_PROGRESS"
    job = (await db.describe_import(ImportArn=started["ImportArn"]))["ImportTableDescription"]
    assert (job["ImportStatus"], job["ImportedItemCount"]) == ("COMPLETED", 3)
    assert len((await db.scan(TableName="copy"))["Items"]) == 3


async def test_a_runtime_runs_the_jobs_in_its_task_group(memory_engine: streamkit.Engine) -> None:
    """With a runtime the call queues the job and answers at once; the runtime's worker
    ("transfers") runs it, several jobs at a time."""
    db = memory_engine
    arn = await _orders(db)
    async with streamkit.open_runtime(db) as runtime:
        assert "transfers" in runtime.workers
        assert db.transfers.attached
        replies = []
        for fmt in ("DYNAMODB_JSON", "ION"):
            reply = (
                await db.export_table_to_point_in_time(
                    TableArn=arn, S3Bucket="bkt", ExportFormat=fmt
                )
            )["ExportDescription"]
            replies.append(reply)
            # queued, not run: the caller's task has not yielded to the worker since
            now = (await db.describe_export(ExportArn=reply["ExportArn"]))["ExportDescription"]
            assert now["ExportStatus"] == "IN_PROGRESS"
            assert not await db.transfers.caught_up()
        first, second = replies
        await _until_caught_up(db.transfers)
        for reply in (first, second):
            done = (await db.describe_export(ExportArn=reply["ExportArn"]))["ExportDescription"]
            assert (done["ExportStatus"], done["ItemCount"]) == ("COMPLETED", 3)
    assert not bool(db.transfers.attached)  # the runtime's exit detached its worker
    again = (await db.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt2"))[
        "ExportDescription"
    ]
    described = (await db.describe_export(ExportArn=again["ExportArn"]))["ExportDescription"]
    assert described["ExportStatus"] == "COMPLETED"  # alone again: inside the call


@pytest.mark.parametrize("regions", [None, ["us-east-1", "eu-west-1"]], ids=["one", "regions"])
async def test_harness_drain_waits_for_exports_and_imports(regions: list[str] | None) -> None:
    """``h.drain()`` returns once every export and import of every region has ended."""
    async with open_harness(App(), regions=regions) as h:
        db = h.engines["eu-west-1"] if regions else h.engine
        arn = await _orders(db, items=5)
        _big_input(db, lines=3000)
        export = (await db.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt"))[
            "ExportDescription"
        ]
        job = (await db.import_table(**_import_params("loaded")))["ImportTableDescription"]
        assert job["ImportStatus"] == "IN_PROGRESS"
        await h.drain()
        assert await db.transfers.caught_up()
        export = (await db.describe_export(ExportArn=export["ExportArn"]))["ExportDescription"]
        assert (export["ExportStatus"], export["ItemCount"]) == ("COMPLETED", 5)
        job = (await db.describe_import(ImportArn=job["ImportArn"]))["ImportTableDescription"]
        assert (job["ImportStatus"], job["ImportedItemCount"]) == ("COMPLETED", 3000)
        data = db.s3_dir / "bkt" / export["ExportManifest"].removesuffix("manifest-summary.json")
        (file,) = (data / "data").iterdir()
        assert len(gzip.decompress(file.read_bytes()).splitlines()) == 5


async def _until(predicate: Callable[[], Awaitable[bool]]) -> None:
    """Return once ``predicate()`` is true, checked at every turn of the event loop: no
    real-clock sleep. (``anyio.wait_all_tasks_blocked`` sleeps 0.1 s whenever a task is
    running, long enough for a fast import of the whole test input to end unseen.)"""
    with anyio.fail_after(60):
        while not await predicate():
            await anyio.lowlevel.checkpoint()


def _gated(desc: dict[str, Any], log: list[str]) -> tuple[anyio.Event, TransferJob]:
    """A job that says when it has begun, then waits until cancelled, then cleans up (an
    await in its cleanup, as a real job's waits for its thread or worker processes)."""
    begun = anyio.Event()

    async def work() -> None:
        begun.set()
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.lowlevel.checkpoint()
                log.append("cleaned up")

    return begun, TransferJob(desc, "ImportStatus", work, ManualClock())


async def test_the_runtime_exit_cancels_a_job_under_way(memory_engine: streamkit.Engine) -> None:
    """A job under way when the runtime exits is cancelled, cleans up, and ends FAILED with
    FailureCode Cancelled; the exit waits for it, so no task is left behind."""
    before = asyncio.all_tasks()
    desc: dict[str, Any] = {"ImportArn": "arn:x/import/1", "ImportStatus": "IN_PROGRESS"}
    log: list[str] = []
    begun, job = _gated(desc, log)
    async with streamkit.open_runtime(memory_engine):
        await memory_engine.transfers.submit(job)
        await begun.wait()
        assert desc["ImportStatus"] == "IN_PROGRESS"
    assert log == ["cleaned up"]
    assert (desc["ImportStatus"], desc["FailureCode"]) == ("FAILED", "Cancelled")
    assert desc["FailureMessage"] == "the job was cancelled while it ran"
    assert await memory_engine.transfers.caught_up()
    assert asyncio.all_tasks() == before


async def test_a_cancelled_call_cancels_its_inline_job(memory_engine: streamkit.Engine) -> None:
    """On an engine alone the job runs in the caller's task: cancelling the call cancels
    the job, which cleans up and ends FAILED (Cancelled)."""
    desc: dict[str, Any] = {"ImportArn": "arn:x/import/1", "ImportStatus": "IN_PROGRESS"}
    log: list[str] = []
    begun, job = _gated(desc, log)
    async with anyio.create_task_group() as tg:
        tg.start_soon(memory_engine.transfers.submit, job)
        await begun.wait()
        assert not await memory_engine.transfers.caught_up()
        tg.cancel_scope.cancel()
    assert log == ["cleaned up"]
    assert (desc["ImportStatus"], desc["FailureCode"]) == ("FAILED", "Cancelled")
    assert await memory_engine.transfers.caught_up()


def _scratch_folders() -> set[Path]:
    """The folders of import workers' scratch files (exports._import_in_processes)."""
    return set(Path(tempfile.gettempdir()).glob("streamkit-import-*"))


@pytest.mark.parametrize("processes", [0, 2], ids=["thread", "processes"])
async def test_closing_cancels_an_import_under_way_cleanly(processes: int) -> None:
    """The runtime's exit cancels a real import under way (its thread, or its worker
    processes): FAILED (Cancelled), no task left behind, and the engine's close removes its
    temporary bucket folder (and the workers' scratch files go with the job)."""
    before = asyncio.all_tasks()
    scratch_before = _scratch_folders()
    async with streamkit.open_engine(None, clock=ManualClock()) as db:
        db.import_processes = processes
        db.import_processes_min_bytes = 0
        _big_input(db)
        temporary = db.s3_dir
        async with streamkit.open_runtime(db):
            job = (await db.import_table(**_import_params("big")))["ImportTableDescription"]
            arn = job["ImportArn"]

            async def begun() -> bool:
                desc = (await db.describe_import(ImportArn=arn))["ImportTableDescription"]
                assert desc["ImportStatus"] == "IN_PROGRESS"
                return bool(processes or desc["ProcessedItemCount"])

            await _until(begun)  # with a thread: past its first chunk
        ended = (await db.describe_import(ImportArn=arn))["ImportTableDescription"]
        assert (ended["ImportStatus"], ended["FailureCode"]) == ("FAILED", "Cancelled")
        assert ended["ImportedItemCount"] < 20_000
        assert "EndTime" in ended
        assert await db.transfers.caught_up()
        assert asyncio.all_tasks() == before  # the job and its helpers ended with the runtime
        await db.put_item(TableName="big", Item={"pk": {"S": "after"}})  # the engine goes on
        assert _scratch_folders() == scratch_before
    assert not temporary.exists()


async def test_closing_cancels_an_export_cleanly() -> None:
    """An export the runtime's exit cancels ends FAILED (Cancelled), and the temporary
    bucket folder goes with the engine."""
    async with streamkit.open_engine(None, clock=ManualClock()) as db:
        arn = await _orders(db, items=2000)
        temporary = db.s3_dir
        async with streamkit.open_runtime(db):
            export = (await db.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt"))[
                "ExportDescription"
            ]
        ended = (await db.describe_export(ExportArn=export["ExportArn"]))["ExportDescription"]
        assert (ended["ExportStatus"], ended["FailureCode"]) == ("FAILED", "Cancelled")
        assert "ItemCount" not in ended
    assert not temporary.exists()


async def test_a_job_that_crashes_fails_alone(
    memory_engine: streamkit.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A job's unexpected error ends that job FAILED and is logged; the runtime and its
    other jobs go on."""
    db = memory_engine
    arn = await _orders(db)
    desc: dict[str, Any] = {"ExportArn": "arn:x/export/1", "ExportStatus": "IN_PROGRESS"}

    async def crash() -> None:
        raise RuntimeError("a bug")

    async with streamkit.open_runtime(db):
        await db.transfers.submit(TransferJob(desc, "ExportStatus", crash, db.clock))
        await _until_caught_up(db.transfers)
        assert desc["ExportStatus"] == "FAILED"
        assert (desc["FailureCode"], desc["FailureMessage"]) == ("RuntimeError", "a bug")
        assert desc["EndTime"] == db.clock.now()
        reply = (await db.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt"))[
            "ExportDescription"
        ]
        await _until_caught_up(db.transfers)
        done = (await db.describe_export(ExportArn=reply["ExportArn"]))["ExportDescription"]
        assert done["ExportStatus"] == "COMPLETED"
    assert "transfer_failed" in caplog.text
    # alone, the same crash is the caller's error (and the job still ends FAILED)
    other: dict[str, Any] = {"ExportArn": "arn:x/export/2", "ExportStatus": "IN_PROGRESS"}
    with pytest.raises(RuntimeError):
        await db.transfers.submit(TransferJob(other, "ExportStatus", crash, db.clock))
    assert other["ExportStatus"] == "FAILED"


def _job(clock: ManualClock, ran: list[str], name: str) -> TransferJob:
    async def work() -> None:
        ran.append(name)

    return TransferJob(
        {"ImportArn": name, "ImportStatus": "IN_PROGRESS"}, "ImportStatus", work, clock
    )


async def test_jobs_queued_but_never_begun_end_failed() -> None:
    """A job still queued when the last worker detaches, or when the engine closes, never
    runs: it ends FAILED with a FailureCode of Cancelled and says why."""
    clock, ran = ManualClock(), list[str]()
    queue = TransferQueue()
    with queue.attach():
        first = _job(clock, ran, "first")
        await queue.submit(first)  # queued, not run: a worker is attached
        assert not await queue.caught_up()
    assert ran == []
    assert first.desc["ImportStatus"] == "FAILED"
    assert first.desc["FailureCode"] == "Cancelled"
    assert "stopped" in first.desc["FailureMessage"]
    assert await queue.caught_up()

    with queue.attach():
        second = _job(clock, ran, "second")
        await queue.submit(second)
        queue.close()
    assert (second.desc["ImportStatus"], ran) == ("FAILED", [])
    assert "engine closed" in second.desc["FailureMessage"]

    third = _job(clock, ran, "third")
    await queue.submit(third)  # no worker: runs here
    assert ran == ["third"]


async def test_closing_leaves_a_job_under_a_worker_to_end_as_its_work_does() -> None:
    """The engine's close fails the jobs still queued, not one a worker has taken: that job
    ends as its work does (here it completes), never COMPLETED with a FailureCode."""
    clock = ManualClock()
    queue = TransferQueue()

    async def work() -> None:
        running.desc.update(ImportStatus="COMPLETED", EndTime=clock.now())

    running = TransferJob(
        {"ImportArn": "a", "ImportStatus": "IN_PROGRESS"}, "ImportStatus", work, clock
    )
    waiting = _job(clock, [], "waiting")
    with queue.attach():
        await queue.submit(running)
        await queue.submit(waiting)
        assert queue.take() is running
        queue.close()  # the engine closes while the worker holds ``running``
        assert (waiting.desc["ImportStatus"], waiting.desc["FailureCode"]) == (
            "FAILED",
            "Cancelled",
        )
        assert running.desc["ImportStatus"] == "IN_PROGRESS"
        assert not await queue.caught_up()  # still under way
        await running.run()
        queue.done(running)
    assert running.desc["ImportStatus"] == "COMPLETED"
    assert "FailureCode" not in running.desc
    assert await queue.caught_up()


async def test_run_transfers_outside_a_runtime(memory_engine: streamkit.Engine) -> None:
    """``run_transfers`` is an ordinary worker: any task group may run it (the CLI does, to
    follow a local export with its progress bar)."""
    db = memory_engine
    arn = await _orders(db)
    async with anyio.create_task_group() as tg:
        await tg.start(run_transfers, db)
        reply = (await db.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt"))[
            "ExportDescription"
        ]
        assert not await db.transfers.caught_up()
        await _until_caught_up(db.transfers)
        tg.cancel_scope.cancel()
    done = (await db.describe_export(ExportArn=reply["ExportArn"]))["ExportDescription"]
    assert done["ExportStatus"] == "COMPLETED"
