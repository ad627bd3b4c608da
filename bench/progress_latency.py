"""Live progress latency: a job reports progress -> a Socket.IO client receives it.

    .venv/bin/python bench/progress_latency.py [--n 500] [--store sqlite|redis|both]

The API server runs in a process of its own (uvicorn, as ``workhorse serve`` would);
this process runs a worker and a python-socketio client.  The job reports progress
``n`` times; each report waits until the client has received the previous one, so
every sample is one unqueued trip: worker -> store event stream -> API process ->
Socket.IO -> client.  Times come from one monotonic clock in this process.  The first
20 samples warm up and are dropped.  Target: p50 <= 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "bench-secret-" + "x" * 32
WARMUP = 20


def _store(url: str, prefix: str) -> Any:
    from workhorse.store import connect

    return connect(url, prefix=prefix) if url.startswith("redis") else connect(url)


def serve(url: str, prefix: str, port: int) -> None:
    """The API process."""
    import uvicorn

    from workhorse.api import create_app
    from workhorse.app import Settings

    settings = Settings(secret_key=SECRET, environment="production")
    app = create_app(
        settings, store=_store(url, prefix), on_ready=lambda: print("ready", flush=True)
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


async def measure(url: str, prefix: str, port: int, n: int) -> list[float]:
    import socketio

    from workhorse import Queue, Worker
    from workhorse.api import mint_token
    from workhorse.job import Job

    store = _store(url, prefix)
    queue = Queue("exports", store)
    received: dict[int, asyncio.Event] = {i: asyncio.Event() for i in range(n)}
    arrived: dict[int, int] = {}
    samples: list[float] = []

    async def on_progress(msg: dict[str, Any]) -> None:
        if msg.get("status") == "active" and "message" in msg:
            i = int(msg["message"])
            arrived[i] = time.perf_counter_ns()
            received[i].set()

    client = socketio.AsyncClient(reconnection=False)
    client.on("queue:job:progress", on_progress)
    await client.connect(
        f"http://127.0.0.1:{port}",
        auth={"token": mint_token(SECRET, "bench")},
        transports=["websocket"],
    )

    async def handler(job: Job) -> None:
        for i in range(n):
            sent = time.perf_counter_ns()
            await job.update_progress({"overallProgress": i * 100 // n, "message": str(i)})
            await asyncio.wait_for(received[i].wait(), 10)
            samples.append((arrived[i] - sent) / 1e6)

    job = await queue.add(
        "export", {"entity": "all", "format": "json", "userId": "bench"}, owner="bench"
    )
    await Worker(queue, handler).run(burst=True)
    final = await queue.get_job(job.id)
    assert final is not None and final.failed_reason is None, final
    await client.disconnect()
    await queue.obliterate(force=True)
    await store.close()
    if url.startswith("redis"):
        _delete_prefix(url, prefix)
    return samples[WARMUP:]


def _delete_prefix(url: str, prefix: str) -> None:
    """Remove exactly the keys this run created."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def run_one(kind: str, n: int) -> dict[str, float]:
    import socket

    tmp = tempfile.mkdtemp(prefix="wh-bench-")
    url = REDIS_URL if kind == "redis" else f"sqlite:///{Path(tmp) / 'bench.db'}"
    prefix = f"whbench-{uuid.uuid4().hex[:8]}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, prefix, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise SystemExit(f"{kind}: the API server did not start")
        samples = asyncio.run(measure(url, prefix, port, n))
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()
    qs = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": qs[49], "p90": qs[89], "p99": qs[98], "max": max(samples), "n": len(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--store", choices=["sqlite", "redis", "both"], default="both")
    parser.add_argument(
        "--serve", nargs=3, metavar=("URL", "PREFIX", "PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return
    kinds = ["sqlite", "redis"] if args.store == "both" else [args.store]
    print(f"progress -> Socket.IO client latency, {args.n - WARMUP} samples (ms)")
    for kind in kinds:
        r = run_one(kind, args.n)
        verdict = "ok" if r["p50"] <= 5 else "over the 5 ms target"
        print(
            f"  {kind:<7} p50 {r['p50']:6.2f}  p90 {r['p90']:6.2f}  p99 {r['p99']:6.2f}"
            f"  max {r['max']:6.2f}   ({verdict})"
        )


if __name__ == "__main__":
    main()
