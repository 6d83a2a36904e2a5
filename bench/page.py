"""Page benchmark of the web map: from navigation to the map's first `idle` with the default layers
on, and the bytes transferred (page, JavaScript, CSS, tiles, glyphs), in headless Chromium.

Serves the project with gunicorn on 127.0.0.1 (DEBUG off, static files from WhiteNoise as in
production) against the database in .env or DATABASE_URL, which must hold the demo layers
(`python manage.py loaddemo`). Each visit uses a fresh browser profile, so nothing comes from the
browser's cache. A freshly started Chromium spends its first second or so building its own
interface (a WebUI renderer), which a visitor's long-running browser has done already: each visit
waits until the new browser is quiet before it opens the map. Besides the clock, each visit counts
the CPU time Chromium spent until the first idle (page renderer, GPU process: SwiftShader draws the
WebGL), a figure that other work on the machine disturbs much less than the clock. The first
visit meets a tile cache that was emptied for the layers on (tiles made on demand); the later
visits find the tiles cached by the server.

    bash bench/page.sh            # or: .venv/bin/python bench/page.py --visits 5
Writes its section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
VIEWPORT = {"width": 1280, "height": 800}
IDLE_TIMEOUT_MS = 120_000
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
# The browser counts as settled when it used less than this CPU time in one window.
SETTLE_WINDOW_S = 0.25
SETTLE_QUIET_CPU_MS = 15
SETTLE_TIMEOUT_S = 15


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, tile_dir: Path) -> subprocess.Popen:
    """Start gunicorn on 127.0.0.1:port with a tile cache folder of the benchmark's own."""
    env = {**os.environ, "DEBUG": "false", "TILE_CACHE_DIR": str(tile_dir)}
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "mapserver.wsgi", "--workers", "2",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.3)
    server.terminate()
    raise RuntimeError("gunicorn did not start")


def kind_of(url: str, resource_type: str) -> str:
    """Sort a request into what the report counts."""
    path = url.split("?", 1)[0]
    if "/tiles/" in path:
        return "tiles"
    if "/static/glyphs/" in path:
        return "glyphs"
    if path.endswith((".js", ".mjs")) or "/jsi18n/" in path:
        return "JavaScript"
    if path.endswith(".css"):
        return "CSS"
    if resource_type == "document":
        return "page"
    return "other"


def wait_until(page, expression: str) -> None:
    """Poll an expression from outside the page: the page's CSP forbids the `eval` that
    wait_for_function needs, and the benchmark keeps the policy a visitor gets."""
    deadline = time.monotonic() + IDLE_TIMEOUT_MS / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the map never reached its first idle: {expression} stayed false")
        time.sleep(0.05)


def chromium_cpu_ms(profile: str) -> dict[str, float]:
    """Return the CPU time (ms) used so far by the Chromium of this profile, by process type."""
    processes = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_text().replace("\0", " ")
        except OSError:  # gone meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        cpu_ms = (int(fields[11]) + int(fields[12])) * 1000 / CLOCK_TICKS_PER_S
        processes[int(entry.name)] = (int(fields[1]), cpu_ms, command)
    browsers = [
        pid
        for pid, (_parent, _cpu, command) in processes.items()
        if f"--user-data-dir={profile}" in command and "--type=" not in command
    ]
    by_type: dict[str, float] = defaultdict(float)
    todo = browsers
    while todo:
        pid = todo.pop()
        _parent, cpu_ms, command = processes[pid]
        kind = command.split("--type=", 1)[1].split()[0] if "--type=" in command else "browser"
        if "--top-chrome-webui" in command:
            kind = "webui"
        by_type[kind] += cpu_ms
        todo += [child for child, (parent, _c, _m) in processes.items() if parent == pid]
    return dict(by_type)


def settle(profile: str) -> None:
    """Wait until the newly started browser has finished building its own interface."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    before = sum(chromium_cpu_ms(profile).values())
    while time.monotonic() < deadline:
        time.sleep(SETTLE_WINDOW_S)
        now = sum(chromium_cpu_ms(profile).values())
        if now - before < SETTLE_QUIET_CPU_MS:
            return
        before = now


def visit(driver, url: str) -> dict:
    """Open the map once in a fresh profile; return timings, CPU time and bytes by kind."""
    profile = tempfile.mkdtemp(prefix="bench-chromium-")
    context = driver.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
        viewport=VIEWPORT, locale="vi-VN",
    )  # fmt: skip
    try:
        page = context.pages[0] if context.pages else context.new_page()
        settle(profile)
        responses = []
        page.on("response", lambda response: responses.append(response))
        cpu_before = chromium_cpu_ms(profile)
        page.goto(url)
        wait_until(page, "window.webmap?.firstIdleMs")
        cpu_after = chromium_cpu_ms(profile)
        cpu = {kind: ms - cpu_before.get(kind, 0) for kind, ms in cpu_after.items()}
        timing = page.evaluate(
            """() => ({
                idle: window.webmap.firstIdleMs,
                dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
                layersOn: window.webmap.on.size,
            })"""
        )
        page.wait_for_load_state("networkidle")
        totals = defaultdict(lambda: {"requests": 0, "bytes": 0})
        for response in responses:
            sizes = response.request.sizes()
            kind = kind_of(response.url, response.request.resource_type)
            totals[kind]["requests"] += 1
            totals[kind]["bytes"] += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        return {**timing, "cpu": cpu, "totals": dict(totals)}
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


def kib(value: float) -> str:
    return f"{value / 1024:,.0f}"


def section(visits: list[dict], url: str) -> str:
    first, warm = visits[0], visits[1:] or visits[:1]
    kinds = ["page", "JavaScript", "CSS", "tiles", "glyphs", "other"]

    def median_of(kind: str, field: str) -> float:
        return statistics.median(v["totals"].get(kind, {}).get(field, 0) for v in warm)

    rows = [
        f"| {kind} | {median_of(kind, 'requests'):.0f} | {kib(median_of(kind, 'bytes'))} |"
        for kind in kinds
        if median_of(kind, "requests")
    ]
    total = sum(median_of(kind, "bytes") for kind in kinds)
    idle_warm = statistics.median(v["idle"] for v in warm)
    dcl_warm = statistics.median(v["dcl"] for v in warm)

    def cpu(visit_list: list[dict]) -> str:
        """Median CPU ms of the page's renderer, the GPU process and all of Chromium."""
        renderer = statistics.median(v["cpu"].get("renderer", 0) for v in visit_list)
        gpu = statistics.median(v["cpu"].get("gpu-process", 0) for v in visit_list)
        every = statistics.median(sum(v["cpu"].values()) for v in visit_list)
        return f"{renderer:.0f} | {gpu:.0f} | {every:.0f}"

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return "\n".join(
        [
            "<!-- page:start -->",
            "## Web map page",
            "",
            f"{date.today()} · {os.cpu_count()} cores, {platform.platform()} · "
            f"Chromium headless (SwiftShader WebGL, no GPU) · gunicorn 2 workers · "
            f"`bash bench/page.sh` · demo layers, {VIEWPORT['width']} x {VIEWPORT['height']} px, "
            f"`{url}` with the default layers ({warm[0]['layersOn']} on) · each visit in a fresh "
            f"profile, once the new browser is quiet · load average at the end {load}.",
            "",
            "| visit | navigation → DOMContentLoaded (ms) | navigation → first map `idle` (ms) "
            "| CPU to idle (ms): page renderer | GPU process | all of Chromium |",
            "|---|---|---|---|---|---|",
            f"| first (server tile cache emptied: tiles made on demand) | {first['dcl']:.0f} "
            f"| {first['idle']:.0f} | {cpu([first])} |",
            f"| later (tiles cached by the server), median of {len(warm)} | {dcl_warm:.0f} "
            f"| {idle_warm:.0f} | {cpu(warm)} |",
            "",
            "Bytes transferred by a visit with an empty browser cache (compressed, headers "
            "included), median of the later visits:",
            "",
            "| what | requests | KiB |",
            "|---|---|---|",
            *rows,
            f"| **all** | | **{kib(total)}** |",
            "<!-- page:end -->",
        ]
    )


def write_section(text: str) -> None:
    results = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if "<!-- page:start -->" in results:
        results = re.sub(r"<!-- page:start -->.*<!-- page:end -->", text, results, flags=re.S)
    else:
        results = results.rstrip("\n") + "\n\n" + text + "\n"
    RESULTS.write_text(results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=6, help="visits in all (the first cold)")
    parser.add_argument("--no-write", action="store_true", help="print, do not edit RESULTS.md")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    tile_dir = Path(tempfile.mkdtemp(prefix="bench-tiles-"))
    say(f"gunicorn on 127.0.0.1:{port}, tile cache {tile_dir}")
    server = start_server(port, tile_dir)
    url = f"http://127.0.0.1:{port}/"
    try:
        # Both workers import Django before the first visit, which then measures the tiles only.
        for _ in range(4):
            urllib.request.urlopen(url, timeout=30).read()
        visits = []
        with sync_playwright() as driver:
            for number in range(args.visits):
                result = visit(driver, url)
                visits.append(result)
                say(f"visit {number + 1}: idle {result['idle']:.0f} ms, Chromium CPU "
                    f"{sum(result['cpu'].values()):.0f} ms, tiles "
                    f"{result['totals'].get('tiles', {}).get('requests', 0)} requests")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(tile_dir, ignore_errors=True)
    text = section(visits, "/")
    print(text)
    if not args.no_write:
        write_section(text)
        say(f"Written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
