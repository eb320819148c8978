"""Load test of the viewer: ``rcdm viewer`` as its own process on 127.0.0.1, many clients at once, bounded in time.

Usage::

    python extras/benchmarks/bench_viewer_load.py [--clients 50] [--seconds 60] [--images 200000]
                                                  [--burst 200] [--db out/viewer-load.duckdb]

Steps, all in one run:

1. Build (once) a synthetic DuckDB database with ``bench_viewer.build`` (same generator as the page benchmark,
   ``--images`` rows) and its summary tables (``rcdm viewer build-summary``).
2. Start ``python -m rcdm viewer --quiet`` on a free port (a separate process, so its memory can be read from
   ``/proc``), with one ``analyst`` and one ``aggregate`` user.
3. Baseline: ONE client for ``--baseline-seconds`` (default 10), the same request mix.
4. Load: ``--clients`` clients at once for ``--seconds``, each logged in (half analysts, half aggregate users)
   and sending its next request as soon as the previous one is answered. The mix: overview, protocols and
   combinations pages and their JSON (everyone), a search page and JSON search with changing filters (analysts;
   aggregate users ask and must get 403). Any other status, or a failed connection, is an error.
5. Login burst: ``--burst`` logins with wrong passwords for different names at once from 250 addresses (the
   server trusts 127.0.0.1 as its reverse proxy, so ``X-Forwarded-For`` tells them apart), while one real user
   logs in from another address: counts of each answer, the real user's wait, and the server's peak memory
   (``VmHWM``) before and after.

Reported: requests/s, p50/p95/p99 latency of the load, the same for the baseline, their ratio, errors, and the
burst figures. Latency is measured in the client (an asyncio loop in this process sharing the machine's cores
with the server), so it includes the client's own overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PASSWORD = "load test password"
COMMON = ["/overview", "/api/overview", "/protocols", "/api/protocols", "/combinations",
          "/api/combinations?q=CT", "/combinations?sort=modality&order=asc"]
ANALYST = ["/search?modality={m}&page={p}", "/api/search?modality={m}&plane=axial", "/api/search?body_part=CHEST"]
MODALITIES = ("CT", "MR", "CR", "US", "MG")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(db: Path, images: int) -> None:
    from bench_viewer import build, build_summary

    if not db.exists():
        build(db, images)
        build_summary(db)


def start_server(db: Path, users: Path, port: int) -> subprocess.Popen:
    import httpx

    server = subprocess.Popen([sys.executable, "-m", "rcdm", "viewer", "--db", str(db), "--schema", "cdm",
                               "--users", str(users), "--port", str(port), "--quiet",
                               "--trusted-proxy", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"rcdm viewer ended: {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    raise SystemExit("rcdm viewer did not answer within 120 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_memory_mib(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def login(client, name: str, password: str = PASSWORD) -> int:
    """Log in, waiting and retrying when asked to (429/503 with Retry-After); the final status."""
    while True:
        token = re.search(r'name="csrf_token" value="([^"]+)"', (await client.get("/login")).text)[1]
        response = await client.post("/login", data={"username": name, "password": password, "csrf_token": token})
        if response.status_code in (429, 503):
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            continue
        return response.status_code


async def run_clients(base: str, clients: int, seconds: float, pid: int) -> dict:
    """``clients`` logged-in clients sending requests for ``seconds``; latencies, errors, and the server's (``pid``)
    CPU seconds from the moment everyone is logged in to the end (no password hashing in it)."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    login_waits: list[float] = []
    logged_in = 0
    everyone_in = asyncio.Event()

    async def one(i: int) -> None:
        analyst = i % 2 == 0
        async with httpx.AsyncClient(base_url=base, timeout=60, follow_redirects=False) as client:
            started = time.perf_counter()
            status = await login(client, "analyst" if analyst else "viewer")
            login_waits.append(time.perf_counter() - started)
            nonlocal logged_in
            logged_in += 1
            if logged_in == clients:
                everyone_in.set()
            if status != 303:
                errors.append(f"login {status}")
                return
            await everyone_in.wait()  # the load starts when every client is logged in
            end = time.monotonic() + seconds
            n = i
            while time.monotonic() < end:
                n += 1
                paths = COMMON + ANALYST
                path = paths[n % len(paths)].format(m=MODALITIES[n % 5], p=1 + n % 3)
                expected = 200 if (analyst or path in COMMON) else 403
                started = time.perf_counter()
                try:
                    response = await client.get(path)
                    status = response.status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                latencies.append(time.perf_counter() - started)
                if status != expected:
                    errors.append(f"{path}: {status}")

    tasks = [asyncio.ensure_future(one(i)) for i in range(clients)]
    await everyone_in.wait()
    started, cpu = time.perf_counter(), cpu_seconds(pid)
    await asyncio.gather(*tasks)
    return {"latencies": latencies, "errors": errors, "seconds": time.perf_counter() - started,
            "login_waits": login_waits, "cpu": cpu_seconds(pid) - cpu}


async def login_burst(base: str, burst: int) -> dict:
    import httpx

    async def guess(i: int) -> int | str:
        # a botnet behind the site's proxy; a new connection per request (uvicorn drops idle ones after 5 s)
        headers = {"X-Forwarded-For": f"203.0.113.{i % 250}", "Connection": "close"}
        try:
            async with httpx.AsyncClient(base_url=base, timeout=120, headers=headers) as client:
                token = re.search(r'name="csrf_token" value="([^"]+)"', (await client.get("/login")).text)[1]
                response = await client.post("/login", data={"username": f"nobody{i}", "password": "wrong password",
                                                              "csrf_token": token})
                return response.status_code
        except httpx.HTTPError as exc:
            return type(exc).__name__

    async def real_user() -> tuple[int, float]:
        await asyncio.sleep(0.5)  # in the middle of the burst
        async with httpx.AsyncClient(base_url=base, timeout=120,
                                     headers={"X-Forwarded-For": "198.51.100.7"}) as client:
            started = time.perf_counter()
            status = await login(client, "viewer")
            return status, time.perf_counter() - started

    started = time.perf_counter()
    *codes, (status, wait) = await asyncio.gather(*(guess(i) for i in range(burst)), real_user())
    return {"codes": {c: codes.count(c) for c in sorted(set(codes), key=str)}, "user_status": status,
            "user_wait": wait, "seconds": time.perf_counter() - started}


def quantiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return (values[0],) * 3 if values else (float("nan"),) * 3
    q = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), q[94], q[98]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="out/viewer-load.duckdb", type=Path)
    parser.add_argument("--images", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--baseline-seconds", type=float, default=10)
    parser.add_argument("--burst", type=int, default=200)
    args = parser.parse_args(argv)
    args.db.parent.mkdir(parents=True, exist_ok=True)
    prepare(args.db, args.images)

    from rcdm.viewer import auth

    with tempfile.TemporaryDirectory() as folder:
        users = Path(folder) / "users.json"
        auth.add_user("analyst", PASSWORD, users, role="analyst")
        auth.add_user("viewer", PASSWORD, users)
        port = _free_port()
        server = start_server(args.db, users, port)
        base = f"http://127.0.0.1:{port}"
        try:
            memory_start = peak_memory_mib(server.pid)
            baseline = asyncio.run(run_clients(base, 1, args.baseline_seconds, server.pid))
            load = asyncio.run(run_clients(base, args.clients, args.seconds, server.pid))
            load_average = os.getloadavg()[0]
            memory_load = peak_memory_mib(server.pid)
            burst = asyncio.run(login_burst(base, args.burst))
            memory_burst = peak_memory_mib(server.pid)
            alive = server.poll() is None
        finally:
            server.terminate()
            server.wait(30)

    b50, b95, b99 = quantiles(baseline["latencies"])
    l50, l95, l99 = quantiles(load["latencies"])
    print(f"\nrcdm viewer load test: {args.images:,} images (summary tables), {os.cpu_count()} CPUs, "
          f"server = one 'rcdm viewer' process on 127.0.0.1\n")
    print("| run | clients | seconds | requests | requests/s | p50 ms | p95 ms | p99 ms | errors | server CPU ms/req |")
    print("|-----|--------:|--------:|---------:|-----------:|-------:|-------:|-------:|-------:|------------------:|")
    for name, run, n, (q50, q95, q99) in (("baseline", baseline, 1, (b50, b95, b99)),
                                          ("load", load, args.clients, (l50, l95, l99))):
        used = run["cpu"]
        count = len(run["latencies"])
        print(f"| {name} | {n} | {run['seconds']:.0f} | {count:,} | {count / run['seconds']:.0f} | "
              f"{q50 * 1000:.0f} | {q95 * 1000:.0f} | {q99 * 1000:.0f} | {len(run['errors'])} | "
              f"{used * 1000 / max(1, count):.0f} |")
    print(f"\n(1-minute load average of the machine at the end of the load: {load_average:.1f})")
    print(f"\np95 ratio load/baseline: {l95 / b95:.1f}; logins of the {args.clients} clients (with retries on "
          f"429/503): max {max(load['login_waits']):.1f} s")
    if load["errors"] or baseline["errors"]:
        print("errors:", sorted(set(load["errors"] + baseline["errors"]))[:10])
    print(f"\nlogin burst: {args.burst} wrong passwords at once in {burst['seconds']:.1f} s, answers "
          f"{burst['codes']}; a real user logging in meanwhile: {burst['user_status']} after "
          f"{burst['user_wait']:.1f} s; server peak memory {memory_start:.0f} MiB at start, "
          f"{memory_load:.0f} MiB after the load, {memory_burst:.0f} MiB after the burst; server alive: {alive}")
    return 0 if not load["errors"] and not baseline["errors"] and alive else 1


if __name__ == "__main__":
    sys.exit(main())
