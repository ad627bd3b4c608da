"""Workhorse benchmark: workhorse vs Node BullMQ and the Python Redis job queues.

    python bench/run.py [--only workhorse,node-bullmq] [--jobs N] [--quick] [--json out.json]

Starts its own redis-server on 127.0.0.1:6399 (never touches 6379), flushes it before
every scenario and shuts it down at the end.  The ``workhorse-sqlite`` row runs the
workhorse adapter on the embedded SQLite store instead, with a fresh database file in
a new temporary directory for every scenario.  Every adapter role (enqueuer, worker,
latency producer) runs in its own subprocess with a deadline; see common.py for the
protocol and README.md for what each scenario measures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import percentile

BENCH = Path(__file__).resolve().parent
PORT = 6399
REDIS_URL = f"redis://127.0.0.1:{PORT}/0"
PY = [sys.executable, "-m", "peers"]
COMMANDS = {
    "workhorse": [*PY, "workhorse"],
    "workhorse-sqlite": [*PY, "workhorse"],  # same adapter, BENCH_STORE_URL=sqlite:////...
    "node-bullmq": ["node", "node/bullmq.js"],
    "bullmq-py": [*PY, "bullmq_py"],
    "saq": [*PY, "saq"],
    "arq": [*PY, "arq"],
    "rq": [*PY, "rq"],
    "celery": [*PY, "celery"],
}
BASELINE = "node-bullmq"
# Rows whose store is an SQLite file made afresh for every scenario (see fresh_store).
SQLITE = {"workhorse-sqlite"}
# Job counts at --jobs 10000 (the default); --jobs N scales them all by N / 10000.
COUNTS = {
    "enqueue_one": 5_000,
    "enqueue_bulk": 10_000,
    "drain_noop": 10_000,
    "drain_io": 2_000,
    "latency": 1_000,
}
CONCURRENCY = {"drain_noop": 10, "drain_io": 50, "latency": 10}
RATE = 100  # latency jobs per second
THROUGHPUT = ["enqueue_one", "enqueue_bulk", "drain_noop", "drain_io"]
MODELS = {
    "workhorse": "asyncio, concurrency=C",
    "workhorse-sqlite": "asyncio, concurrency=C; SQLite file, WAL, synchronous=NORMAL, no server",
    "node-bullmq": "Node event loop, concurrency=C",
    "bullmq-py": "asyncio, concurrency=C",
    "saq": "asyncio, concurrency=C",
    "arq": "asyncio, max_jobs=C; polls the queue every 0.5 s (default), Job.result polls 0.5 s",
    "rq": "one SimpleWorker = 1 job at a time, whatever C (rq has no in-process concurrency)",
    "celery": "threads pool, C threads (-P threads -c C)",
}


SUSPICIOUS = re.compile(r"Traceback|TimeoutError|ConnectionError|Exception")


class PeerError(Exception):
    """A scenario of one peer failed; the message goes into its table cell / notes."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class RedisServer:
    """A throwaway redis-server on PORT with its pidfile and dir under /tmp."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="workhorse-bench-redis-"))
        self.pidfile = self.dir / "redis.pid"

    def cli(self, *args: str) -> str:
        return subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(PORT), *args],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()

    def start(self) -> None:
        if port_open(PORT):
            sys.exit(f"port {PORT} is already in use (a stale bench redis?); stop it first")
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(PORT),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.pidfile),
                "--dir",
                str(self.dir),
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while self.cli("ping") != "PONG":
            if time.monotonic() > deadline:
                sys.exit(f"redis-server did not come up on port {PORT}")
            time.sleep(0.05)

    def version(self) -> str:
        info = self.cli("info", "server")
        return next(
            ln.split(":", 1)[1] for ln in info.splitlines() if ln.startswith("redis_version")
        )

    def flush(self) -> None:
        if self.cli("flushall") != "OK":
            raise RuntimeError("FLUSHALL failed on the bench redis")

    def stop(self) -> None:
        pid = int(self.pidfile.read_text()) if self.pidfile.exists() else None
        self.cli("shutdown", "nosave")
        deadline = time.monotonic() + 5
        while port_open(PORT) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid is not None and port_open(PORT):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


ADAPTER_FRAME = re.compile(r'File ".*/bench/(peers/\w+\.py)", line (\d+)|/bench/(node/\w+\.js:\d+)')


def reason(logfile: Path) -> str:
    """The most telling line of a failed adapter's output, with the adapter line it
    came through (a bare ``TimeoutError`` says little on its own)."""
    text = logfile.read_text(errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error" in ln or "error" in ln]
    message = (errors or lines or ["no output"])[-1][:160]
    frames = ADAPTER_FRAME.findall(text)
    if frames:
        py_file, py_line, js_at = frames[-1]
        message += f" (at {js_at or f'{py_file}:{py_line}'})"
    return message


class Runner:
    """Spawns adapter processes, waits for their result files, and cleans up."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.tmp = Path(tempfile.mkdtemp(prefix="workhorse-bench-"))
        self.env = {**os.environ, "BENCH_REDIS_URL": REDIS_URL, "BENCH_STORE_URL": REDIS_URL}
        self.procs: dict[subprocess.Popen[bytes], Path] = {}  # running process -> its log
        self.warnings: list[str] = []  # errors seen in logs of processes that did finish
        self.seq = 0

    def spawn(self, system: str, role: str, params: dict[str, Any]) -> tuple[Any, Path, Path]:
        self.seq += 1
        out = self.tmp / f"{self.seq}-{system}-{role}.json"
        logfile = out.with_suffix(".log")
        with logfile.open("wb") as fh:
            proc = subprocess.Popen(
                [*COMMANDS[system], role, str(out), json.dumps(params)],
                cwd=BENCH,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[proc] = logfile
        return proc, out, logfile

    def wait(self, proc: Any, out: Path, logfile: Path, deadline: float) -> dict[str, Any]:
        """Poll (50 ms) for the result file; fail on exit without one or on deadline."""
        while not out.exists():
            if proc.poll() is not None:
                raise PeerError(f"exit {proc.returncode}: {reason(logfile)}")
            if time.monotonic() > deadline:
                raise PeerError("timeout")
            time.sleep(0.05)
        return dict(json.loads(out.read_text()))

    def run(self, system: str, role: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run a role that exits by itself once it has written its result."""
        proc, out, logfile = self.spawn(system, role, params)
        try:
            return self.wait(proc, out, logfile, time.monotonic() + self.timeout)
        finally:
            self.stop(proc)

    def stop(self, proc: Any) -> None:
        """Scan the log written so far for errors (e.g. a client socket timeout the peer
        retried), then SIGTERM the process group, SIGKILL after 2 s."""
        logfile = self.procs.pop(proc)
        text = logfile.read_bytes().decode(errors="replace")
        hits = [ln.strip() for ln in text.splitlines() if SUSPICIOUS.search(ln)]
        if hits:
            self.warnings.append(f"{logfile.stem}: {hits[-1][:160]}")
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def close(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)
        shutil.rmtree(self.tmp, ignore_errors=True)


def fs_type(path: Path) -> str:
    """File system type of the mount that holds ``path`` (from /proc/self/mounts)."""
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            mount, fstype = line.split()[1:3]
            inside = str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > len(best):
                best, kind = mount, fstype
    return kind


@contextlib.contextmanager
def fresh_store(runner: Runner, system: str) -> Iterator[None]:
    """For an SQLite row, the counterpart of FLUSHALL: every process of the scenario
    gets ``BENCH_STORE_URL=sqlite:////<new temp dir>/bench.db`` (created by its first
    user); the file and its -wal/-shm companions are deleted afterwards, once the
    scenario's processes have been stopped.  Other rows keep the Redis URL."""
    if system not in SQLITE:
        yield
        return
    folder = Path(tempfile.mkdtemp(prefix="workhorse-bench-sqlite-")).resolve()
    db = folder / "bench.db"
    runner.env["BENCH_STORE_URL"] = f"sqlite:///{db}"  # db is absolute: four slashes
    try:
        yield
    finally:
        runner.env["BENCH_STORE_URL"] = REDIS_URL
        for path in (db, folder / "bench.db-wal", folder / "bench.db-shm"):
            path.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)


def enqueue(runner: Runner, system: str, role: str, n: int) -> dict[str, Any]:
    res = runner.run(system, role, {"n": n})
    return {"jobs_per_s": n / res["seconds"], "seconds": res["seconds"], "method": res["method"]}


def drain(runner: Runner, system: str, kind: str, n: int, concurrency: int) -> dict[str, Any]:
    runner.run(system, "fill", {"n": n, "kind": kind})
    spawned = time.time()
    proc, out, logfile = runner.spawn(system, "worker", {"n": n, "concurrency": concurrency})
    try:
        res = runner.wait(proc, out, logfile, time.monotonic() + runner.timeout)
    finally:
        runner.stop(proc)
    span = res["last_end"] - res["first_start"]
    wall = res["last_end"] - spawned
    return {
        "jobs_per_s": n / span,
        "span_s": span,
        "wall_jobs_per_s": n / wall,
        "wall_s": wall,
        "rss_mb": res["vmhwm_kb"] / 1024,
        "concurrency": concurrency,
    }


def latency(runner: Runner, system: str, n: int) -> dict[str, Any]:
    worker, _, w_log = runner.spawn(
        system, "worker", {"n": 0, "concurrency": CONCURRENCY["latency"]}
    )
    try:
        producer, out, logfile = runner.spawn(system, "latency", {"n": n, "rate": RATE})
        try:
            deadline = time.monotonic() + runner.timeout
            running = (worker, producer)
            while all(p.poll() is None for p in running) and time.monotonic() < deadline:
                time.sleep(0.05)
            if worker.poll() is not None:
                raise PeerError(f"worker exit {worker.returncode}: {reason(w_log)}")
            res = runner.wait(producer, out, logfile, deadline)
        finally:
            runner.stop(producer)
    finally:
        runner.stop(worker)
    stats: dict[str, Any] = {"n": len(res["start_ms"]), "rate": RATE}
    for key in ("start_ms", "result_ms"):
        stats[key] = {f"p{p}": percentile(res[key], p) for p in (50, 95, 99)}
        stats[key]["max"] = max(res[key])
    return stats


def bench_system(runner: Runner, server: RedisServer, system: str, counts: dict[str, int]) -> dict:
    row: dict[str, Any] = {"scenarios": {}, "errors": {}, "warnings": []}
    try:
        row["version"] = runner.run(system, "version", {})["version"]
    except PeerError as exc:
        row["unavailable"] = str(exc)
        log(f"{system}: unavailable: {exc}")
        runner.warnings.clear()
        return row
    log(f"{system} {row['version']}")
    if system in SQLITE:
        folder = Path(tempfile.gettempdir()).resolve()
        row["store"] = {
            "sqlite": sqlite3.sqlite_version,
            "dir": str(folder),
            "fs": fs_type(folder),
            "journal_mode": "WAL",
            "synchronous": "NORMAL",
        }
        log(f"  SQLite {sqlite3.sqlite_version}, files in {folder} ({row['store']['fs']})")
    steps = {
        "enqueue_one": lambda: enqueue(runner, system, "enqueue_one", counts["enqueue_one"]),
        "enqueue_bulk": lambda: enqueue(runner, system, "enqueue_bulk", counts["enqueue_bulk"]),
        "drain_noop": lambda: drain(
            runner, system, "noop", counts["drain_noop"], CONCURRENCY["drain_noop"]
        ),
        "drain_io": lambda: drain(
            runner, system, "io", counts["drain_io"], CONCURRENCY["drain_io"]
        ),
        "latency": lambda: latency(runner, system, counts["latency"]),
    }
    for name, step in steps.items():
        server.flush()
        t0 = time.monotonic()
        try:
            with fresh_store(runner, system):
                row["scenarios"][name] = step()
            log(f"  {name}: {brief(row['scenarios'][name])} ({time.monotonic() - t0:.1f}s)")
        except PeerError as exc:
            row["errors"][name] = str(exc)
            log(f"  {name}: FAILED {exc}")
        for warning in runner.warnings:
            if warning.split(": ", 1)[1] in row["errors"].get(name, ""):
                continue  # the failure itself, already reported
            row["warnings"].append(f"{name}: {warning}")
            log(f"    warning: {warning}")
        runner.warnings.clear()
    return row


def brief(res: dict[str, Any]) -> str:
    if "jobs_per_s" in res:
        return f"{res['jobs_per_s']:,.0f} jobs/s"
    return f"start p50 {res['start_ms']['p50']:.2f} ms, result p50 {res['result_ms']['p50']:.2f} ms"


def cell(row: dict[str, Any], name: str, base: dict[str, Any] | None) -> str:
    if name in row["errors"]:
        return "timeout" if row["errors"][name] == "timeout" else "error"
    value = row["scenarios"][name]["jobs_per_s"]
    text = f"{value:,.0f}"
    if base is not None and name in base["scenarios"]:
        text += f" ({value / base['scenarios'][name]['jobs_per_s']:.2f}x)"
    return text


def pcts(row: dict[str, Any], key: str) -> str:
    if "latency" in row["errors"]:
        return "timeout" if row["errors"]["latency"] == "timeout" else "error"
    p = row["scenarios"]["latency"][key]
    return f"{p['p50']:.1f} / {p['p95']:.1f} / {p['p99']:.1f}"


def table(rows: dict[str, dict[str, Any]]) -> list[str]:
    base = rows.get(BASELINE)
    if base is not None and "unavailable" in base:
        base = None
    head = [
        "system",
        "enqueue_one jobs/s",
        "enqueue_bulk jobs/s",
        "drain_noop jobs/s",
        "drain_io jobs/s",
        "start p50/p95/p99 ms",
        "result p50/p95/p99 ms",
        "worker RSS MB",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for system, row in rows.items():
        if "unavailable" in row:
            lines.append(f"| {system} | not run: {row['unavailable']} |" + " |" * (len(head) - 2))
            continue
        rss = row["scenarios"].get("drain_noop", {}).get("rss_mb")
        cells = [f"{system} {row['version']}"]
        cells += [cell(row, name, base) for name in THROUGHPUT]
        cells += [pcts(row, "start_ms"), pcts(row, "result_ms")]
        cells.append(f"{rss:.1f}" if rss is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def details(rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "drain_* jobs/s = n / (first job started -> last job finished), stamped by the handler",
        "in the worker; 'wall' = n / (worker process spawned -> last job finished).",
        "",
        "| system | drain_noop wall jobs/s | drain_io wall jobs/s | latency start/result max ms |"
        " enqueue_bulk method | concurrency model (C = 10 noop / 50 io / 10 latency) |",
        "|---|---|---|---|---|---|",
    ]
    for system, row in rows.items():
        if "unavailable" in row:
            continue
        sc = row["scenarios"]
        walls = [
            f"{sc[k]['wall_jobs_per_s']:,.0f}" if k in sc else "-"
            for k in ("drain_noop", "drain_io")
        ]
        lat = sc.get("latency")
        worst = f"{lat['start_ms']['max']:.1f} / {lat['result_ms']['max']:.1f}" if lat else "-"
        method = sc.get("enqueue_bulk", {}).get("method", "-")
        lines.append(
            f"| {system} | {walls[0]} | {walls[1]} | {worst} | {method} | {MODELS[system]} |"
        )
    for system, row in rows.items():
        if "store" in row:
            st = row["store"]
            lines += [
                "",
                f"{system}: SQLite {st['sqlite']}, a new file per scenario in {st['dir']} "
                f"({st['fs']}), journal_mode={st['journal_mode']}, "
                f"synchronous={st['synchronous']}; no server.",
            ]
    problems = [
        f"- {system} {name}: {err}"
        for system, row in rows.items()
        for name, err in row["errors"].items()
    ]
    if problems:
        lines += ["", "Failures:", *problems]
    warnings = [f"- {system} {w}" for system, row in rows.items() for w in row["warnings"]]
    if warnings:
        lines += ["", "Errors in peer logs (the step still produced a result):", *warnings]
    return lines


def ratio_line(rows: dict[str, dict[str, Any]]) -> tuple[str, float | None]:
    try:
        ours = rows["workhorse"]["scenarios"]["drain_noop"]["jobs_per_s"]
        theirs = rows[BASELINE]["scenarios"]["drain_noop"]["jobs_per_s"]
    except KeyError:
        return "drain_noop vs node-bullmq: n/a", None
    return f"drain_noop vs node-bullmq: {ours / theirs:.2f}x", ours / theirs


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help=f"comma-separated subset of: {','.join(COMMANDS)}")
    ap.add_argument(
        "--jobs",
        type=int,
        help="job count of enqueue_bulk/drain_noop (default "
        "10000); the other scenarios scale with it (5000/2000/1000 at 10000)",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: same as --jobs 1000")
    ap.add_argument("--json", type=Path, help="also write all raw results to this file")
    ap.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds one adapter step may take before it is reported as timeout",
    )
    args = ap.parse_args()
    systems = args.only.split(",") if args.only else list(COMMANDS)
    unknown = [s for s in systems if s not in COMMANDS]
    if unknown:
        ap.error(f"unknown system(s) {unknown}; choose from {list(COMMANDS)}")
    args.systems = systems
    return args


def use_bench_venv() -> None:
    """Re-exec under bench/.venv (made by run.sh) so `python bench/run.py` works from any
    Python; the peers run under the same interpreter."""
    venv = BENCH / ".venv"
    if (venv / "bin" / "python").exists() and Path(sys.prefix).resolve() != venv.resolve():
        os.execv(venv / "bin" / "python", [str(venv / "bin" / "python"), *sys.argv])


def main() -> None:
    use_bench_venv()
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up as for Ctrl-C
    jobs = args.jobs or (1_000 if args.quick else 10_000)
    counts = {name: max(1, round(n * jobs / 10_000)) for name, n in COUNTS.items()}
    server = RedisServer()
    runner = Runner(args.timeout)
    rows: dict[str, dict[str, Any]] = {}
    server.start()
    try:
        log(f"redis-server {server.version()} on {REDIS_URL}; counts {counts}")
        for system in args.systems:
            rows[system] = bench_system(runner, server, system, counts)
    finally:
        runner.close()
        server.stop()
    last, ratio = ratio_line(rows)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "counts": counts,
                    "concurrency": CONCURRENCY,
                    "latency_rate": RATE,
                    "machine": {
                        "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "platform": platform.platform(),
                    },
                    "systems": rows,
                    "drain_noop_vs_node_bullmq": ratio,
                },
                indent=2,
            )
        )
    print("\n".join([*table(rows), *details(rows), "", last]))


if __name__ == "__main__":
    main()
