"""HTTP service benchmark: throughput and latency of ``kgsearch serve`` under loopback load, beside Virtuoso.

On the full movie KB (built into a home as bench/linking.py does; cached with ``--home DIR``),
``kgsearch serve`` runs as a subprocess on 127.0.0.1 and Virtuoso 7 (kg/testing/virtuoso.py) is
bulk-loaded with the same two files. Once /health answers and the warm-up is over (the first
/ask and /suggest return), each workload runs for ``--duration`` seconds under ``wrk``
(``-t2 -c8 --latency``, a Lua script cycling through the workload's requests), or under a Python
thread-pool generator with the same fields when wrk is not on PATH:

* ``sparql``: ``SELECT ?p ?o WHERE { <iri> ?p ?o }`` for 50 catalogue entities sampled with a
  fixed seed, JSON results; the same query texts against Virtuoso's /sparql (its default graph
  given as ``default-graph-uri``). Row counts of kgsearch and Virtuoso are compared first.
* ``ask``: 20 questions as users type them, 4 from each question set of the parser benchmark
  (MetaQA 1/2/3-hop, NTM, WikiMovies test splits).
* ``suggest``: typed prefixes (2, 3, 5 and 8 characters) of 20 sampled entity labels, as the
  console asks (``limit=15``). Target: p95 <= 50 ms.
* ``entity``: ``/entities/{iri}`` cards of the sampled entities.

Every request is sent once before the load; those not answered 200 are reported and left out.
Run: ``python bench/server.py [--duration S] [--connections N] [--home DIR] [--quick]``.
Prints a table and writes bench/results/server.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.linking import open_home  # noqa: E402
from kg.datasets.movies import ONTOLOGY_PATH  # noqa: E402
from kg.testing.virtuoso import VirtuosoServer, free_port, virtuoso_available  # noqa: E402
from kgsearch.settings import Settings  # noqa: E402
from parser.evaluation import question_sets  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 120)  # logs keep whole tables
SEED = 20240611
ENTITIES = 50
QUESTIONS_PER_SET = 4
SUGGEST_LABELS = 20
PREFIX_LENGTHS = (2, 3, 5, 8)
MAX_DURATION = 30
SUGGEST_P95_TARGET_MS = 50.0
SPARQL_JSON = "application/sparql-results+json"
VIRTUOSO_GRAPH = "http://kgsearch.org/bench/movies"
POINT_QUERY = "SELECT ?p ?o WHERE {{ <{iri}> ?p ?o }}"

# Cycles through the workload's paths, each wrk thread from its own offset; done() prints the
# figures wrk's text output lacks (p95, the error kinds) on one line for parse_wrk.
WRK_LUA = """\
local paths = {{
{paths}
}}
local headers = {{ ["Accept"] = "{accept}" }}
local threads = 0
function setup(thread)
  thread:set("offset", threads * 7)
  threads = threads + 1
end
function init(args)
  i = offset or 0
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], headers)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("KGSBENCH %d %d %d %d %d %d %d", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout))
  for _, p in ipairs({{50, 75, 90, 95, 99}}) do io.write(string.format(" %d", latency:percentile(p))) end
  io.write(string.format(" %d %.1f\\n", latency.max, latency.mean))
end
"""


def build_workloads(engine, shared_data: Path) -> tuple[dict[str, list[str]], list[str], dict]:
    """The request paths of each kgsearch workload, the sampled entity IRIs, and what was sampled."""
    entities = sorted(engine.catalogue.entities(), key=lambda e: e.iri)
    sample = random.Random(SEED).sample(entities, ENTITIES)
    iris = [e.iri for e in sample]
    questions = [
        pair.plain for pairs in question_sets(shared_data, "test", limit=QUESTIONS_PER_SET).values() for pair in pairs
    ]
    prefixes = []
    for e in sample[:SUGGEST_LABELS]:
        prefixes += [p for p in dict.fromkeys(e.label[:n] for n in PREFIX_LENGTHS) if len(p.strip()) >= 2]
    workloads = {
        "sparql": [sparql_path(iri) for iri in iris],
        "ask": ["/ask?" + urllib.parse.urlencode({"q": q}) for q in questions],
        "suggest": ["/suggest?" + urllib.parse.urlencode({"q": p, "limit": 15}) for p in prefixes],
        "entity": ["/entities/" + urllib.parse.quote(iri, safe="") for iri in iris],
    }
    types: dict[str, int] = {}
    for e in sample:
        for t in e.types or ["(none)"]:
            name = t.rsplit("#", 1)[-1]
            types[name] = types.get(name, 0) + 1
    sampled = {
        "seed": SEED,
        "entities": len(iris),
        "entity_types": dict(sorted(types.items(), key=lambda kv: -kv[1])),
        "questions": questions,
        "suggest_prefixes": prefixes,
    }
    return workloads, iris, sampled


def sparql_path(iri: str, default_graph: str | None = None) -> str:
    params = {"default-graph-uri": default_graph} if default_graph else {}
    return "/sparql?" + urllib.parse.urlencode(params | {"query": POINT_QUERY.format(iri=iri)})


@contextmanager
def kgsearch_server(home: Path, log_path: Path, timeout: float = 600):
    """``kgsearch serve`` over ``home`` on a free port; yields (base URL, seconds to /health, its JSON)."""
    port = free_port()
    script = Path(sys.executable).with_name("kgsearch")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from kgsearch.cli import app; app()"]
    env = os.environ | {"KGSEARCH_HOME": str(home), "KGSEARCH_HOST": "127.0.0.1", "KGSEARCH_PORT": str(port)}
    env.pop("KGSEARCH_UPDATE_TOKEN", None)
    started = time.perf_counter()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [*command, "serve"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its query workers share its process group, stopped with it
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
                raise RuntimeError(f"kgsearch serve exited with status {process.returncode}:\n" + "\n".join(tail))
            try:
                # A long timeout: /health counts the triples (seconds on a busy machine), and a retry
                # after a client timeout would only queue another count behind the first.
                health = httpx.get(url + "/health", timeout=timeout)
                if health.status_code == 200:
                    break
            except httpx.ConnectError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"kgsearch serve did not answer /health within {timeout:.0f} s; see {log_path}")
            time.sleep(0.2)
        yield url, time.perf_counter() - started, health.json()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_warm(url: str, workloads: dict[str, list[str]], health: dict, timeout: float = 600) -> float:
    """Wait for the warm-up thread: a /health readiness field if the server has one, else the first
    /ask and /suggest (they wait on the lock the warm-up holds while it builds the parser and index)."""
    started = time.perf_counter()
    flag = next((k for k in ("warm", "warmed_up", "ready") if k in health), None)
    deadline = time.monotonic() + timeout
    while flag and not httpx.get(url + "/health", timeout=30).json().get(flag):
        if time.monotonic() > deadline:
            raise RuntimeError(f"/health did not report {flag} within {timeout:.0f} s")
        time.sleep(0.5)
    for name in ("ask", "suggest"):
        httpx.get(url + workloads[name][0], timeout=timeout)
    return time.perf_counter() - started


def check_once(url: str, paths: list[str], accept: str = "application/json") -> tuple[list[str], list[dict], dict]:
    """GET every path once; returns the paths answered 200, the failures, and result row counts by path."""
    ok, failed, rows = [], [], {}
    with httpx.Client(base_url=url, timeout=60, headers={"Accept": accept}) as client:
        for path in paths:
            r = client.get(path)
            if r.status_code != 200:
                failed.append({"path": urllib.parse.unquote(path), "status": r.status_code, "body": r.text[:300]})
                continue
            ok.append(path)
            if accept == SPARQL_JSON:
                rows[path] = len(r.json()["results"]["bindings"])
    return ok, failed, rows


def parse_wrk(text: str) -> dict:
    """The figures of one wrk run (latencies in ms), from its text output and our done() line."""
    line = next((ln for ln in text.splitlines() if ln.startswith("KGSBENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{text[-2000:]}")
    n = [float(x) for x in line.split()[1:]]
    requests, duration_us, connect, read, write, status, timeout_errors = n[:7]
    p50, p75, p90, p95, p99, max_us, mean_us = n[7:]
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    return {
        "requests": int(requests),
        "seconds": round(duration_us / 1e6, 2),
        "requests_per_s": float(rps.group(1)) if rps else requests / (duration_us / 1e6),
        "latency_ms": {
            k: round(v / 1000, 2)
            for k, v in {"p50": p50, "p75": p75, "p90": p90, "p95": p95, "p99": p99, "max": max_us, "mean": mean_us}.items()
        },
        "non_2xx": int(status),
        "socket_errors": {"connect": int(connect), "read": int(read), "write": int(write), "timeout": int(timeout_errors)},
    }  # fmt: skip


def run_wrk(url: str, paths: list[str], accept: str, duration: int, connections: int, threads: int) -> dict:
    lua_paths = ",\n".join(f'  "{p}"' for p in paths)  # URL-encoded: no quotes or backslashes to escape
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="kgsearch-bench-", delete=False) as f:
        f.write(WRK_LUA.format(paths=lua_paths, accept=accept))
    try:
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "--latency"]
        done = subprocess.run(
            [*command, "-s", f.name, url], capture_output=True, text=True, timeout=duration + 60, check=False
        )
    finally:
        os.unlink(f.name)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk(done.stdout)


def run_python(url: str, paths: list[str], accept: str, duration: int, connections: int) -> dict:
    """A thread per connection, each with one keep-alive connection, cycling through ``paths``."""
    import http.client

    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    latencies: list[float] = []
    counts = {"non_2xx": 0, "errors": 0}
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def worker(offset: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        mine, i = [], offset
        while time.perf_counter() < deadline:
            path = paths[i % len(paths)]
            i += 1
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers={"Accept": accept})
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
                with lock:
                    counts["errors"] += 1
                continue
            mine.append(time.perf_counter() - started)
            if not 200 <= status < 400:
                with lock:
                    counts["non_2xx"] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(k * 7,)) for k in range(connections)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - started
    cuts = statistics.quantiles([x * 1000 for x in latencies], n=100, method="inclusive") if len(latencies) > 1 else []
    pct = {f"p{p}": round(cuts[p - 1], 2) if cuts else None for p in (50, 75, 90, 95, 99)}
    return {
        "requests": len(latencies),
        "seconds": round(seconds, 2),
        "requests_per_s": len(latencies) / seconds,
        "latency_ms": pct
        | {"max": round(max(latencies) * 1000, 2) if latencies else None}
        | {"mean": round(statistics.fmean(latencies) * 1000, 2) if latencies else None},
        "non_2xx": counts["non_2xx"],
        "socket_errors": {"other": counts["errors"]},
    }


def start_virtuoso(stack: ExitStack, workdir: Path, files: list[Path]) -> tuple[VirtuosoServer, dict]:
    load_dir = workdir / "virtuoso-load"
    load_dir.mkdir()
    for f in files:
        shutil.copy(f, load_dir / f.name)
    virtuoso = VirtuosoServer(workdir / "virtuoso", buffers=100_000, load_dirs=[load_dir])
    virtuoso.start(timeout=120)
    stack.callback(virtuoso.stop)
    started = time.perf_counter()
    virtuoso.bulk_load(load_dir, "*", VIRTUOSO_GRAPH)
    load_s = time.perf_counter() - started
    return virtuoso, {"load_seconds": round(load_s, 1), "triples": virtuoso.store(VIRTUOSO_GRAPH).count()}


def print_table(runs: list[dict]) -> None:
    table = Table("workload", "server", "req/s", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "errors", "requests")
    for r in runs:
        lat = r["latency_ms"]
        errors = r["non_2xx"] + sum(r["socket_errors"].values())
        table.add_row(
            r["workload"], r["server"], f"{r['requests_per_s']:.1f}",
            *(f"{lat[p]:.1f}" if lat[p] is not None else "-" for p in ("p50", "p90", "p95", "p99")),
            str(errors), f"{r['requests']:,}",
        )  # fmt: skip
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=10, help=f"seconds per run (at most {MAX_DURATION})")
    ap.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections")
    ap.add_argument("--home", type=Path, help="keep the built KB home here and reuse it on later runs")
    ap.add_argument("--quick", action="store_true", help="3 s per run, for a smoke test")
    ap.add_argument("--no-virtuoso", action="store_true", help="leave Virtuoso out")
    ap.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument("--shared-data", type=Path, default=Settings.from_env(home=".").shared_data)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "server.json")
    args = ap.parse_args(argv)
    duration = 3 if args.quick else args.duration
    if not 1 <= duration <= MAX_DURATION:
        ap.error(f"--duration must be 1 to {MAX_DURATION} seconds")
    if not 1 <= args.connections <= 256:
        ap.error("--connections must be 1 to 256")
    generator = args.generator if args.generator != "auto" else ("wrk" if shutil.which("wrk") else "python")
    threads = min(2, args.connections)
    bench_started = time.perf_counter()
    report: dict = {
        "benchmark": "server",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "generator": {"name": generator, "duration_s": duration, "connections": args.connections}
        | ({"threads": threads, "timeout_s": 10} if generator == "wrk" else {}),
        "server_settings": {"kgsearch": "kgsearch serve defaults (2 SPARQL query workers, warm-up on)"},
    }
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kgsearch-bench-server-")))
        home = args.home or workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        engine, build_s = open_home(home, args.shared_data)
        with engine:
            workloads, iris, sampled = build_workloads(engine, args.shared_data)
        files = [ONTOLOGY_PATH, home / "datasets" / "movies.nt.gz"]
        data = {
            "dataset": "full movie KB (MetaQA/WikiMovies, kgsearch datasets build movies)",
            "files": [f.name for f in files],
            "home": "given with --home" if args.home else "temporary, built by this run",
            "build_seconds": round(build_s, 1) if build_s is not None else None,
            "sample": sampled,
        }
        reason = "disabled with --no-virtuoso" if args.no_virtuoso else virtuoso_available()
        virtuoso = None
        if reason:
            console.print(f"Virtuoso left out: {reason}", style="yellow")
            data["virtuoso"] = {"left_out": reason}
        else:
            console.rule("Virtuoso: bulk load")
            virtuoso, data["virtuoso"] = start_virtuoso(stack, workdir, files)
        console.rule("kgsearch serve")
        url, health_s, health = stack.enter_context(kgsearch_server(home, workdir / "kgsearch-serve.log"))
        warm_s = wait_warm(url, workloads, health)
        data["kgsearch"] = {"triples": health.get("triples"), "entities": health.get("entities")}
        report["startup"] = {"kgsearch_health_s": round(health_s, 1), "kgsearch_warm_up_s": round(warm_s, 1)}
        console.print(f"/health after {health_s:.1f} s, warm after {warm_s:.1f} s more: {health}")

        targets = {("sparql", "kgsearch"): (url, workloads["sparql"], SPARQL_JSON)}
        targets |= {(w, "kgsearch"): (url, workloads[w], "application/json") for w in ("ask", "suggest", "entity")}
        if virtuoso is not None:
            vpaths = [sparql_path(iri, VIRTUOSO_GRAPH) for iri in iris]
            targets[("sparql", "virtuoso")] = (f"http://127.0.0.1:{virtuoso.http_port}", vpaths, SPARQL_JSON)
        checks, rows = {}, {}
        for (workload, server), (base, paths, accept) in targets.items():
            ok, failed, rows[(workload, server)] = check_once(base, paths, accept)
            targets[(workload, server)] = (base, ok, accept)
            checks[f"{workload}/{server}"] = {"requests": len(paths), "ok": len(ok), "failed": failed}
            for f in failed:
                console.print(f"{workload} on {server}: {f['status']} for {f['path']}: {f['body'][:120]}", style="red")
        if virtuoso is not None:
            pairs = zip(workloads["sparql"], vpaths, iris, strict=True)
            kg_rows, v_rows = rows[("sparql", "kgsearch")], rows[("sparql", "virtuoso")]
            compared = [(iri, kg_rows[k], v_rows[v]) for k, v, iri in pairs
                        if k in kg_rows and v in v_rows]  # fmt: skip
            mismatches = [{"iri": i, "kgsearch_rows": a, "virtuoso_rows": b} for i, a, b in compared if a != b]
            checks["sparql_row_counts"] = {"compared": len(compared), "mismatches": mismatches}
            console.print(f"sparql row counts: {len(compared) - len(mismatches)}/{len(compared)} agree")
        report["checks"] = checks

        runs = []
        for (workload, server), (base, paths, accept) in targets.items():
            if not paths:
                continue
            console.print(f"load: {workload} on {server}, {len(paths)} distinct requests, {duration} s ...")
            if generator == "wrk":
                result = run_wrk(base, paths, accept, duration, args.connections, threads)
            else:
                result = run_python(base, paths, accept, duration, args.connections)
            runs.append({"workload": workload, "server": server, "distinct_requests": len(paths)} | result)
        report["runs"] = runs
    report["data"] = data
    suggest = next((r for r in runs if r["workload"] == "suggest"), None)
    if suggest is not None:
        p95 = suggest["latency_ms"]["p95"]
        report["targets"] = {"suggest_p95_ms": {"target": SUGGEST_P95_TARGET_MS, "value": p95, "met": p95 is not None and p95 <= SUGGEST_P95_TARGET_MS}}  # fmt: skip
    report["total_seconds"] = round(time.perf_counter() - bench_started, 1)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print_table(runs)
    if suggest is not None:
        t = report["targets"]["suggest_p95_ms"]
        console.print(
            f"suggest p95 {t['value']} ms (target <= {SUGGEST_P95_TARGET_MS:.0f} ms): {'met' if t['met'] else 'MISSED'}"
        )
    console.print(
        f"{generator}, {args.connections} connections, {duration} s per run; whole bench {report['total_seconds']} s"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
