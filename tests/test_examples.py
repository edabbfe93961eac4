"""Every example runs as a script, finishes within seconds, and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TIMEOUT = 60  # seconds; each example takes well under one


def run_example(name: str, *args: str, cwd: Path) -> str:
    """Run ``python examples/<name>.py`` from ``cwd`` (not the checkout); return its stdout."""
    done = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / f"{name}.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def test_every_example_is_tested() -> None:
    tested = {"quickstart", "welcome", "sessions", "orders", "global_orders"}
    assert {path.stem for path in EXAMPLES.glob("*.py")} == tested


def test_quickstart(tmp_path: Path) -> None:
    out = run_example("quickstart", str(tmp_path / "db.sqlite3"), cwd=tmp_path)
    assert "'total': Decimal('35')" in out
    assert "refused: ConditionalCheckFailedException" in out


def test_welcome(tmp_path: Path) -> None:
    out = run_example("welcome", cwd=tmp_path)
    mails = [line.strip() for line in out.splitlines() if line.strip().startswith("mail:")]
    assert mails == [
        "mail: to ann@example.com: Welcome, Ann! | Your plan: free",
        "mail: to bob@example.com: Welcome, Bob! | Your plan: pro",
        "mail: to cy@example.com: Welcome, Cy! | Your plan: free",
    ]
    assert out.splitlines()[-1] == "welcome mails sent: 3; records filtered out: 2"


def test_sessions(tmp_path: Path) -> None:
    out = run_example("sessions", cwd=tmp_path)
    assert "t+20: sessions ['s-bob', 's-cy'], archived ['s-ann']" in out
    assert "t+35: sessions ['s-cy'], archived ['s-ann', 's-bob']" in out
    archive = out.split("archive expired-sessions.jsonl:\n", 1)[1].splitlines()
    assert len(archive) == 2
    assert '"cart": {"items": 2, "total": 19.9}' in archive[0]
    assert '"roles": ["shopper"]' in archive[0]
    assert '"session_id": "s-ann"' in archive[0]
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_orders(tmp_path: Path) -> None:
    out = run_example("orders", cwd=tmp_path)
    expected = [
        "mapping: 7 invocations, 5 failed, 2 retries, 4 records applied, 1 failure record sent",
        "(o3 left out):\n  ann: total 35 over 2 orders\n  bob: total 20 over 2 orders\n",
        "  RetryAttemptsExhausted after 3 invocations: 1 record, sequence ",
        'read back: INSERT {"customer_id": {"S": "ann"}, "order_id": {"S": "o3"}, '
        '"total": {"S": "ten"}}',
        "customer_totals:\n  ann: total 45 over 3 orders\n  bob: total 20 over 2 orders\n",
    ]
    for text in expected:
        assert text in out


def test_global_orders(tmp_path: Path) -> None:
    out = run_example("global_orders", cwd=tmp_path)
    expected = [
        "global table 2019.11.21: eu-west-1 ACTIVE, us-east-1 ACTIVE\n",
        "during the outage (the regions disagree):\n"
        "  us-east-1: o1=placed o2=shipped o3=paid o4=placed\n"
        "  eu-west-1: o1=placed o2=cancelled o3=cancelled o5=placed\n",
        "  eu-west-1 -> us-east-1: 3 records behind, paused\n"
        "  us-east-1 -> eu-west-1: 3 records behind, paused\n",
        "after the outage (converged):\n"
        "  us-east-1: o1=placed o2=cancelled o3=paid o4=placed o5=placed\n"
        "  eu-west-1: o1=placed o2=cancelled o3=paid o4=placed o5=placed\n",
        "  eu-west-1 -> us-east-1: 0 records behind, lag 0 ms, paused False\n"
        "  us-east-1 -> eu-west-1: 0 records behind, lag 500 ms, paused False\n",
    ]
    for text in expected:
        assert text in out
    logs = out.split("us-east-1 handler saw:\n", 1)[1].split("eu-west-1 handler saw:\n")
    # each region's handler saw its own and the replicated writes; the last change of each
    # order is the converged state (the losing write to o2 never reached the other region)
    for log in logs:
        lines = [line.strip() for line in log.splitlines()]
        last = {line.split()[1]: line.split()[2] for line in lines}
        assert last == {
            "o1": "placed",
            "o2": "cancelled",
            "o3": "paid",
            "o4": "placed",
            "o5": "placed",
        }
    assert "MODIFY o2 shipped" not in logs[1]
    assert "MODIFY o3 cancelled" not in logs[0]
