"""Memory per connection of ``streamkit serve``: RSS before and after 1,000 idle connections,
then 1,000 more that each sent half a request's headers, and a normal request's latency then.

Usage: python bench/connections.py [--connections 1000] [--repeats 3]

Each repeat starts a fresh server; the figures are medians. The client is plain sockets in
this process (raising its soft open-files limit if needed); the server's RSS comes from
/proc/PID/status after the server has accepted every connection (its count of open fds).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HALF = b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.ListT"
LIST = (
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
    b"X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 2\r\n\r\n{}"
)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def settle(pid: int, wanted: int) -> None:
    deadline = time.monotonic() + 30
    while fds(pid) < wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)


def request_ms(port: int) -> float:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(LIST)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    return (time.perf_counter() - started) * 1000


def one(n: int) -> tuple[float, float, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamkit", "serve", "--memory", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split(" on http://", 1)[1].split()[0].split(":")[1])
        request_ms(port)
        time.sleep(0.5)
        base_fds, base = fds(server.pid), rss_kb(server.pid)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
        settle(server.pid, base_fds + n)
        with_idle = rss_kb(server.pid)
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
        for sock in slow:
            sock.sendall(HALF)
        settle(server.pid, base_fds + 2 * n)
        with_slow = rss_kb(server.pid)
        latency = request_ms(port)
        for sock in idle + slow:
            sock.close()
        return (with_idle - base) / n, (with_slow - with_idle) / n, latency
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * args.connections + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    runs = [one(args.connections) for _ in range(args.repeats)]
    idle, slow, latency = (statistics.median(r[i] for r in runs) for i in range(3))
    print(f"{args.connections} connections, median of {args.repeats} fresh servers:")
    print(f"  idle connection:          {idle:.1f} KB of server RSS each")
    print(f"  half-headers connection:  {slow:.1f} KB of server RSS each")
    print(f"  a ListTables on a new connection with {2 * args.connections} open: {latency:.1f} ms")


if __name__ == "__main__":
    main()
