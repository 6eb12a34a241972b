"""Reliability under load: ``kgsearch serve`` on the full movie KB with its corpus, a mixed loopback load with pathological queries.

The served home is a copy of the full movie KB home (bench/linking.py ``open_home``; ``--home``)
with the movie corpus ingested (text, and passage vectors unless ``--no-vectors``), cached with
``--served-home DIR``. ``kgsearch serve`` runs on 127.0.0.1 (bench/server.py ``kgsearch_server``)
with ``KGSEARCH_QUERY_TIMEOUT`` (``--query-timeout``, 10 s). Every connection comes from one
loopback client; kgsearch.budget does not charge loopback peers (unless forwarded addresses are
trusted), and the per-client budget (:data:`CLIENT_BUDGET_ENV`) is raised as well, so a 429 would
be counted apart as an intended cap.

For ``--duration`` seconds (at most 60; ``--quick``: 10) one ``wrk`` per request kind runs at
the same time, 32 connections in all (:data:`CONNECTIONS`): ``/sparql`` point queries of 50
sampled entities, ``/ask`` questions (bench/server.py's sample), ``/search`` with the sampled
labels as keywords, ``/suggest`` typed prefixes, and two pathological kinds: ``cross``, a
three-way cross product ``COUNT`` that must end in 503 ``QueryTimeoutError``, and ``rowcap``, all
triples, which must come back 200 cut at the row cap with ``X-KGSearch-Truncated``. Each wrk's
Lua ``response()`` sorts statuses (2xx, truncated 2xx, 429, 503 timeout, 503 busy, other) and
``done()`` prints its whole latency histogram, merged here for the overall percentiles.

Memory: the RSS and PSS of the server and its query workers (its session), every 0.5 s.
Right after the load: ``/health`` and a point query must answer correctly within 2 s.
The server log is searched for tracebacks. Without wrk, bench/server.py's Python generator
runs the normal kinds and a thread the pathological ones (no histograms: per-kind figures only).

Run: ``python bench/reliability_load.py [--home DIR] [--served-home DIR] [--quick]``.
Prints a table and writes bench/results/reliability-load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from contextlib import ExitStack
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.linking import open_home  # noqa: E402
from bench.retrieval import copy_home, ingest  # noqa: E402
from bench.server import (  # noqa: E402
    SPARQL_JSON,
    build_workloads,
    check_once,
    console,
    kgsearch_server,
    parse_wrk,
    run_python,
    wait_warm,
)
from kgsearch.engine import Engine  # noqa: E402
from kgsearch.settings import ServerSettings, Settings  # noqa: E402

MAX_DURATION = 60
QUERY_TIMEOUT = 10.0
#: The per-client query-time budget (seconds per window), raised for the load: one client, the loopback.
CLIENT_BUDGET_ENV = "KGSEARCH_CLIENT_BUDGET"
RAISED_CLIENT_BUDGET = "1000000"
#: Connections per kind (32 in all) and the pause in ms before each request of a connection.
CONNECTIONS = {"sparql": 10, "suggest": 8, "search": 6, "ask": 5, "rowcap": 2, "cross": 1}
DELAY_MS = {"rowcap": 250}
PATHOLOGICAL = ("cross", "rowcap")
CROSS_QUERY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
ROWCAP_QUERY = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"
#: What each kind must get; anything else (and every socket error) is a failed request.
EXPECTED = {"cross": {"timeout_503"}, "rowcap": {"truncated_2xx"}}
INTENDED = {"capped_429"}
MEMORY_LIMIT_MIB = 4096
RESPONSIVE_WITHIN_S = 2.0
BUILT_MARKER = ".reliability-load-built"

WRK_LUA = """\
local paths = {{
{paths}
}}
local headers = {{ ["Accept"] = "{accept}" }}
local i = 0
counts = {{}}
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], headers)
end
{delay}
function response(status, hdrs, body)
  local key = "status_" .. status
  if status >= 200 and status < 300 then
    key = (hdrs["x-kgsearch-truncated"] or hdrs["X-KGSearch-Truncated"]) and "truncated_2xx" or "ok_2xx"
  elseif status == 429 then key = "capped_429"
  elseif status == 503 and string.find(body or "", "QueryTimeoutError", 1, true) then key = "timeout_503"
  elseif status == 503 and string.find(body or "", "ServerBusyError", 1, true) then key = "busy_503"
  end
  counts[key] = (counts[key] or 0) + 1
end
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("KGSBENCH %d %d %d %d %d %d %d", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout))
  for _, p in ipairs({{50, 75, 90, 95, 99}}) do io.write(string.format(" %d", latency:percentile(p))) end
  io.write(string.format(" %d %.1f\\nKGSCOUNTS", latency.max, latency.mean))
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts") or {{}}) do io.write(string.format(" %s=%d", k, v)) end
  end
  io.write("\\nKGSHIST")
  for j = 1, #latency do
    local v, c = latency(j)
    io.write(string.format(" %d:%d", v, c))
  end
  io.write("\\n")
end
"""


def served_home(kb_home: Path, target: Path, shared: Path, *, vectors: bool) -> tuple[float | None, dict | None]:
    """``target``: the KB home copied, with the movie corpus ingested (once; later runs reuse it)."""
    marker = target / BUILT_MARKER
    if marker.is_file():
        return None, json.loads(marker.read_text(encoding="utf-8"))
    if target.exists():
        shutil.rmtree(target)
    started = time.perf_counter()
    copy_home(kb_home, target)
    with Engine.open(target) as engine:
        report = ingest(engine, shared, vectors=vectors, what="ingesting the movie corpus")
    built = {"vectors": vectors, "documents": report["added"], "links": report["links"]}
    marker.write_text(json.dumps(built) + "\n", encoding="utf-8")
    return time.perf_counter() - started, built


def search_paths(labels: list[str]) -> list[str]:
    return ["/search?" + urllib.parse.urlencode({"q": label, "limit": 10}) for label in labels]


def sparql_get(query: str) -> str:
    return "/sparql?" + urllib.parse.urlencode({"query": query})


def classify(status: int, headers, body: str) -> str:
    """The kind of an answer, as the Lua ``response()`` names it."""
    if 200 <= status < 300:
        return "truncated_2xx" if headers.get("x-kgsearch-truncated") else "ok_2xx"
    if status == 429:
        return "capped_429"
    if status == 503 and "QueryTimeoutError" in body:
        return "timeout_503"
    if status == 503 and "ServerBusyError" in body:
        return "busy_503"
    return f"status_{status}"


def split_connections(total: int) -> dict[str, int]:
    scale = total / sum(CONNECTIONS.values())
    return {kind: max(1, round(n * scale)) for kind, n in CONNECTIONS.items()}


def percentiles(hist: list[tuple[int, int]]) -> dict[str, float | None]:
    """p50/p95/p99/max in ms of a histogram of (microseconds, count), by wrk's rank rule."""
    total = sum(c for _, c in hist)
    out: dict[str, float | None] = {}
    for p in (50, 95, 99):
        rank, seen, value = max(1, round(p / 100 * total + 0.5)), 0, None
        for v, c in hist:
            seen += c
            if seen >= rank:
                value = v
                break
        out[f"p{p}"] = round(value / 1000, 2) if value is not None else None
    out["max"] = round(hist[-1][0] / 1000, 2) if hist else None
    return out


def merge(hists: list[list[tuple[int, int]]]) -> list[tuple[int, int]]:
    merged: dict[int, int] = {}
    for hist in hists:
        for v, c in hist:
            merged[v] = merged.get(v, 0) + c
    return sorted(merged.items())


def start_wrk(url: str, kind: str, paths: list[str], accept: str, duration: int, connections: int, timeout: float):
    lua_paths = ",\n".join(f'  "{p}"' for p in paths)  # URL-encoded: nothing to escape
    delay = f"function delay() return {DELAY_MS[kind]} end" if kind in DELAY_MS else ""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix=f"kgsearch-load-{kind}-", delete=False) as f:
        f.write(WRK_LUA.format(paths=lua_paths, accept=accept, delay=delay))
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", f"{timeout:g}s", "-s", f.name, url]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), f.name


def finish_wrk(process, script: str, duration: int) -> dict:
    try:
        out, err = process.communicate(timeout=duration + 120)
    finally:
        os.unlink(script)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}): {err.strip() or out.strip()}")
    result = parse_wrk(out)
    counts: dict[str, int] = {}
    hist: list[tuple[int, int]] = []
    for line in out.splitlines():
        if line.startswith("KGSCOUNTS"):
            for item in line.split()[1:]:
                key, value = item.split("=")
                counts[key] = counts.get(key, 0) + int(value)
        elif line.startswith("KGSHIST"):
            hist = sorted((int(v), int(c)) for v, c in (item.split(":") for item in line.split()[1:]))
    return result | {"statuses": counts, "histogram": hist}


def python_pathological(url: str, kind: str, paths: list[str], duration: int, connections: int, timeout: float):
    """The fallback for one pathological kind: ``connections`` threads, each request classified."""
    counts: dict[str, int] = {}
    latencies: list[int] = []
    errors = {"other": 0}
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def worker(offset: int) -> None:
        with httpx.Client(base_url=url, timeout=timeout, headers={"Accept": SPARQL_JSON}) as client:
            i = offset
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    r = client.get(paths[i % len(paths)])
                    key = classify(r.status_code, r.headers, r.text)
                except httpx.HTTPError:
                    key = None
                with lock:
                    if key is None:
                        errors["other"] += 1
                    else:
                        counts[key] = counts.get(key, 0) + 1
                        latencies.append(round((time.perf_counter() - started) * 1e6))
                i += 1
                time.sleep(DELAY_MS.get(kind, 0) / 1000)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    hist = merge([[(v, 1) for v in latencies]])
    return {"requests": len(latencies), "seconds": duration, "requests_per_s": len(latencies) / duration,
            "socket_errors": errors, "statuses": counts, "histogram": hist}  # fmt: skip


def session_pids(leader: int) -> list[int]:
    """The processes of a session (the server and the query workers it started)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields_ = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields_[3]) == leader:  # after "pid (comm)": state ppid pgrp session
            pids.append(int(stat.parent.name))
    return pids


def server_pid() -> int:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"serve" in cmdline:
            return int(stat.parent.name)
    raise RuntimeError("the kgsearch serve process was not found among this process's children")


def memory_mib(pids: list[int]) -> tuple[float, float]:
    """RSS and PSS (shared pages split between processes) of ``pids``, summed, in MiB."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:  # a query worker killed at its deadline
            continue
    return rss / 1024, pss / 1024


class MemorySampler(threading.Thread):
    def __init__(self, leader: int, every: float = 0.5):
        super().__init__(daemon=True, name="memory-sampler")
        self.leader, self.every, self.samples = leader, every, []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            pids = session_pids(self.leader)
            rss, pss = memory_mib(pids)
            self.samples.append((time.perf_counter(), rss, pss, len(pids), os.getloadavg()[0]))
            self.stopped.wait(self.every)

    def summary(self, load_start: float, load_end: float, limit: float) -> dict:
        during = [s for s in self.samples if load_start <= s[0] <= load_end] or self.samples
        quarter = max(1, len(during) // 4)
        second, last = during[quarter : 2 * quarter] or during, during[-quarter:]
        growth = sum(s[1] for s in last) / len(last) - sum(s[1] for s in second) / len(second)
        peak = max(during, key=lambda s: s[1])
        return {
            "samples": len(during), "every_s": self.every,
            "rss_mib": {"start": round(during[0][1]), "peak": round(peak[1]), "end": round(during[-1][1])},
            "pss_mib": {"start": round(during[0][2]), "peak": round(max(s[2] for s in during)), "end": round(during[-1][2])},
            "processes": {"start": during[0][3], "peak": max(s[3] for s in during), "end": during[-1][3]},
            "machine_load_average_1min": {"mean": round(sum(s[4] for s in during) / len(during), 2),
                                          "max": round(max(s[4] for s in during), 2)},
            "rss_growth_last_vs_second_quarter_mib": round(growth),
            "limit_mib": limit,
            "bounded": peak[1] < limit and growth < max(100.0, 0.1 * during[0][1]),
        }  # fmt: skip


def responsive(url: str, point_path: str, expected_rows: int) -> dict:
    """Right after the load: /health and a point query, each checked and timed."""
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=30) as client:
        health = client.get("/health")
        health_s = time.perf_counter() - started
        point = client.get(point_path, headers={"Accept": SPARQL_JSON})
        total = time.perf_counter() - started
    rows = len(point.json()["results"]["bindings"]) if point.status_code == 200 else None
    ok = health.status_code == 200 and health.json().get("status") == "ok" and rows == expected_rows
    return {"health_s": round(health_s, 3), "health_status": health.status_code,
            "point_query_s": round(total - health_s, 3), "point_query_status": point.status_code,
            "point_query_rows": rows, "expected_rows": expected_rows, "total_s": round(total, 3),
            "within_s": RESPONSIVE_WITHIN_S, "ok": ok and total <= RESPONSIVE_WITHIN_S}  # fmt: skip


def log_problems(log: Path) -> dict:
    text = log.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    last = [next((x for x in lines[i + 1 :] if x and not x.startswith(" ")), "") for i, ln in enumerate(lines)
            if ln.startswith("Traceback")]  # fmt: skip
    errors = [ln for ln in lines if re.match(r"(ERROR|CRITICAL)\b", ln)]
    clean = lambda s: re.sub(r"/\S*/", "", s)[:300]  # noqa: E731 - no paths of this machine in the results
    return {"tracebacks": len(last), "exceptions": sorted({clean(x) for x in last}),
            "error_lines": len(errors), "first_errors": [clean(x) for x in errors[:5]]}  # fmt: skip


def summarize(kind: str, connections: int, result: dict) -> dict:
    statuses = result["statuses"]
    expected = EXPECTED.get(kind, {"ok_2xx"})
    intended = {k: v for k, v in statuses.items() if k in INTENDED or (kind in EXPECTED and k in expected)}
    failed = {k: v for k, v in statuses.items() if k not in expected and k not in INTENDED}
    failed |= {f"socket_{k}": v for k, v in result["socket_errors"].items() if v}
    return {"kind": kind, "connections": connections, "requests": result["requests"],
            "requests_per_s": round(result["requests_per_s"], 1), "statuses": statuses,
            "intended_timeouts_and_caps": sum(intended.values()), "failed": failed,
            "latency_ms": percentiles(result["histogram"]) if result["histogram"] or not result["requests"] else
            {k: result["latency_ms"][k] for k in ("p50", "p95", "p99", "max")}}  # fmt: skip


def run_load(url, workloads, connections, duration, generator, client_timeout, check):
    """Every kind at once for ``duration`` s; at its end, the responsiveness check (``check``: a
    point query's path and row count). Returns the results by kind, the end time and the check."""
    accept_of = {k: SPARQL_JSON if k in ("sparql", *PATHOLOGICAL) else "application/json" for k in connections}
    results: dict[str, dict] = {}
    t0 = time.perf_counter()
    if generator == "wrk":
        running = {k: start_wrk(url, k, workloads[k], accept_of[k], duration, n, client_timeout)
                   for k, n in connections.items()}  # fmt: skip
    else:
        threads = []
        for kind, n in connections.items():

            def go(kind=kind, n=n):
                if kind in PATHOLOGICAL:
                    results[kind] = python_pathological(url, kind, workloads[kind], duration, n, client_timeout)
                else:
                    r = run_python(url, workloads[kind], accept_of[kind], duration, n)
                    results[kind] = r | {"histogram": [], "statuses": {"ok_2xx": r["requests"] - r["non_2xx"]}
                                         | ({"status_non_2xx": r["non_2xx"]} if r["non_2xx"] else {})}  # fmt: skip

            threads.append(threading.Thread(target=go))
            threads[-1].start()
    time.sleep(max(0.0, duration - (time.perf_counter() - t0)))
    load_end = time.perf_counter()
    after = responsive(url, *check)  # while wrk still prints its histograms: no new requests
    if generator == "wrk":
        results = {k: finish_wrk(p, script, duration) for k, (p, script) in running.items()}
    else:
        for t in threads:
            t.join()
    return results, load_end, after


def aggregate(results: dict, connections: dict, duration: int, generator: str) -> tuple[list[dict], dict]:
    """Per-kind summaries, and the overall figures (latencies from the merged wrk histograms)."""
    kinds = [summarize(k, connections[k], results[k]) for k in connections]
    hists = {k: results[k]["histogram"] for k in connections} if generator == "wrk" else {}
    total = sum(k["requests"] for k in kinds)
    failed: dict[str, int] = {}
    for k in kinds:
        for key, n in k["failed"].items():
            failed[key] = failed.get(key, 0) + n
    mix_hist = merge([hists[k] for k in connections if k not in PATHOLOGICAL]) if hists else []
    pathological = sum(k["requests"] for k in kinds if k["kind"] in PATHOLOGICAL)
    return kinds, {
        "kind": "all", "requests": total, "requests_per_s": round(total / duration, 1), "failed": failed,
        "latency_ms": percentiles(merge(list(hists.values()))) if hists else {},
        "intended_timeouts_and_caps": sum(k["intended_timeouts_and_caps"] for k in kinds),
        "pathological_share": round(pathological / max(1, total), 4),
        "failed_requests": sum(failed.values()),
        "without_pathological_latency_ms": percentiles(mix_hist) if mix_hist else {},
    }  # fmt: skip


def print_table(kinds: list[dict], overall: dict) -> None:
    table = Table("kind", "conns", "requests", "req/s", "2xx", "trunc", "429", "503 timeout", "failed",
                  "p50 ms", "p95 ms", "p99 ms", "max ms")  # fmt: skip
    for k in [*kinds, overall]:
        s, lat = k.get("statuses", {}), k["latency_ms"]
        table.add_row(
            k["kind"], str(k.get("connections", "")), f"{k['requests']:,}", f"{k['requests_per_s']:.1f}",
            str(s.get("ok_2xx", "")), str(s.get("truncated_2xx", "")), str(s.get("capped_429", "")),
            str(s.get("timeout_503", "")), str(sum(k["failed"].values())),
            *(f"{lat[p]:.1f}" if lat.get(p) is not None else "-" for p in ("p50", "p95", "p99", "max")),
        )  # fmt: skip
    console.print(table)


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - one linear script
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=MAX_DURATION, help=f"seconds of load (at most {MAX_DURATION})")
    ap.add_argument("--quick", action="store_true", help="10 s of load, for a try")
    ap.add_argument("--connections", type=int, default=sum(CONNECTIONS.values()), help="split over the kinds")
    ap.add_argument("--home", type=Path, help="the full movie KB home (built there if missing; not changed)")
    ap.add_argument("--served-home", type=Path, help="keep the served home (KB + corpus) here and reuse it")
    ap.add_argument("--no-vectors", action="store_true", help="ingest the corpus without passage vectors")
    ap.add_argument("--query-timeout", type=float, help=f"KGSEARCH_QUERY_TIMEOUT, s ({QUERY_TIMEOUT:g}; quick: 3)")
    ap.add_argument("--memory-limit-mib", type=float, default=MEMORY_LIMIT_MIB)
    ap.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument("--shared-data", type=Path, default=Settings.from_env(home=".").shared_data)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "reliability-load.json")
    args = ap.parse_args(argv)
    duration = 10 if args.quick else args.duration
    args.query_timeout = args.query_timeout or (3.0 if args.quick else QUERY_TIMEOUT)
    if not 1 <= duration <= MAX_DURATION:
        ap.error(f"--duration must be 1 to {MAX_DURATION} seconds")
    generator = args.generator if args.generator != "auto" else ("wrk" if shutil.which("wrk") else "python")
    connections = split_connections(args.connections)
    client_timeout = args.query_timeout + 20  # a timed-out query's 503 must reach the client
    budget_fields = [f.name for f in fields(ServerSettings) if "budget" in f.name]
    bench_started = time.perf_counter()
    report: dict = {
        "benchmark": "reliability-load",
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "server_settings": {
            "KGSEARCH_QUERY_TIMEOUT": args.query_timeout, CLIENT_BUDGET_ENV: RAISED_CLIENT_BUDGET,
            "client_budget": f"ServerSettings.{budget_fields[0]}; loopback peers are not charged "
            "unless KGSEARCH_TRUST_FORWARDED (kgsearch.budget), so the load is not budgeted" if budget_fields
            else "not in ServerSettings (variable set anyway)",
            "others": "kgsearch serve defaults (row cap 10,000, 2 query workers, warm-up on)",
            "host": "127.0.0.1"},
        "generator": {"name": generator, "duration_s": duration, "connections": sum(connections.values()),
                      "connections_by_kind": connections, "delay_ms_by_kind": DELAY_MS,
                      "client_timeout_s": client_timeout},
        "pathological": {"cross": CROSS_QUERY, "rowcap": ROWCAP_QUERY},
    }  # fmt: skip
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kgsearch-bench-load-")))
        kb_home = args.home or workdir / "kb"
        kb_home.mkdir(parents=True, exist_ok=True)
        engine, kb_build_s = open_home(kb_home, args.shared_data)
        engine.close()
        home = args.served_home or workdir / "served"
        build_s, built = served_home(kb_home, home, args.shared_data, vectors=not args.no_vectors)
        with Engine.open(home) as engine:
            workloads, iris, sampled = build_workloads(engine, args.shared_data)
            labels = [e.label for e in engine.catalogue.get_many(iris).values()]
        workloads = {k: workloads[k] for k in ("sparql", "ask", "suggest")} | {"search": search_paths(labels)}
        report["data"] = {"dataset": "full movie KB (MetaQA/WikiMovies) with the movie-text corpus ingested",
                          "served_home": "given with --served-home" if args.served_home else "temporary",
                          "kb_build_s": kb_build_s and round(kb_build_s, 1), "ingest_build_s": build_s and round(build_s, 1),
                          "ingested": built, "sample": sampled | {"search_keywords": labels}}  # fmt: skip

        os.environ["KGSEARCH_QUERY_TIMEOUT"] = f"{args.query_timeout:g}"
        os.environ[CLIENT_BUDGET_ENV] = RAISED_CLIENT_BUDGET
        log_path, server_log = workdir / "kgsearch-serve.log", {}
        stack.callback(lambda: server_log.update(log_problems(log_path)))  # once the server stopped
        console.rule("kgsearch serve")
        url, health_s, health = stack.enter_context(kgsearch_server(home, log_path))
        warm_s = wait_warm(url, workloads, health)
        leader = server_pid()
        report["startup"] = {"health_s": round(health_s, 1), "warm_up_s": round(warm_s, 1), "health": health}
        console.print(f"/health after {health_s:.1f} s, warm after {warm_s:.1f} s more: {health}")

        checks, rows = {}, {}
        for kind, paths in workloads.items():
            accept = SPARQL_JSON if kind == "sparql" else "application/json"
            ok, failed, found = check_once(url, paths, accept)
            workloads[kind], rows = ok, rows | found
            checks[kind] = {"requests": len(paths), "ok": len(ok), "failed": failed}
        for kind, query in (("cross", CROSS_QUERY), ("rowcap", ROWCAP_QUERY)):
            started = time.perf_counter()
            r = httpx.get(url + sparql_get(query), headers={"Accept": SPARQL_JSON}, timeout=client_timeout)
            checks[kind] = {"answer": classify(r.status_code, r.headers, r.text), "status": r.status_code,
                            "seconds": round(time.perf_counter() - started, 2)}  # fmt: skip
            workloads[kind] = [sparql_get(query)]
        report["checks"] = checks
        console.print({k: v.get("answer", f"{v.get('ok')}/{v.get('requests')} ok") for k, v in checks.items()})
        point_path = workloads["sparql"][0]

        sampler = MemorySampler(leader)
        sampler.start()
        time.sleep(1.0)
        t0 = time.perf_counter()
        console.print(f"load: {generator}, {sum(connections.values())} connections {connections}, {duration} s ...")
        results, load_end, report["responsive_after"] = run_load(
            url, workloads, connections, duration, generator, client_timeout, check=(point_path, rows[point_path])
        )
        time.sleep(2.0)
        sampler.stopped.set()
        sampler.join()
        report["memory"] = sampler.summary(t0, load_end, args.memory_limit_mib)
        report["memory"]["after_load_mib"] = {
            "rss": round(sampler.samples[-1][1]),
            "pss": round(sampler.samples[-1][2]),
        }
    report["server_log"] = server_log

    report["kinds"], report["overall"] = aggregate(results, connections, duration, generator)
    report["total_seconds"] = round(time.perf_counter() - bench_started, 1)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print_table(report["kinds"], report["overall"])
    o, m, r = report["overall"], report["memory"], report["responsive_after"]
    console.print(
        f"failed requests (not intended timeouts or caps): {o['failed_requests']} {o['failed'] or ''}; "
        f"intended: {o['intended_timeouts_and_caps']}; pathological share {o['pathological_share']:.2%}\n"
        f"memory (server + workers) RSS MiB start {m['rss_mib']['start']}, peak {m['rss_mib']['peak']}, "
        f"end {m['rss_mib']['end']} (limit {m['limit_mib']:.0f}): {'bounded' if m['bounded'] else 'NOT BOUNDED'}\n"
        f"responsive after the load: /health {r['health_s']} s, point query {r['point_query_s']} s "
        f"({'ok' if r['ok'] else 'FAILED'}); server log: {report['server_log']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0 if o["failed_requests"] == 0 and m["bounded"] and r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
