"""`make bench` (studio part): how quickly the studio answers, measured on the real server.

Starts `cppn-anim studio scenes/spiral.yaml --no-browser` (preview 320x180) and measures:
- edit -> the first frame of the edited scene at the playhead (a WebSocket client doing
  what the page does; each edit a new seed, so nothing is cached; the server is busy
  rendering the previous edit's frames ahead, as it is while someone types);
- playback once cached: frames drawn per second in headless Chromium (where installed),
  and how fast the server streams a cached loop to a page;
- GET /frame.png at 320x180 (a new time each request, so nothing is cached);
- a change to the file by another editor -> the page hears of it.
Targets (issues 13 and 19): 300 ms, 20 fps, 150 ms median, 1 s. Prints one line per figure,
with its target, a verdict (PASS / FAIL) and the load average when it was measured (the
machine is shared: a FAIL under a high load says more about the load); --json adds one JSON
object as the last line; --screenshot PATH saves the page as PNG (docs/studio.png).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENE = "scenes/spiral.yaml"
EDITS = 15
REQUESTS = 20


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def start(folder: Path) -> tuple[subprocess.Popen, str]:
    """The studio on a copy of the scene in `folder` (the disk-change figure writes to it)."""
    (folder / "scenes").mkdir()
    shutil.copy(ROOT / SCENE, folder / SCENE)
    proc = subprocess.Popen([sys.executable, "-m", "cppn_anim", "studio", SCENE, "--no-browser"], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, proc.stdout.readline().strip()


def frame_message(data: bytes) -> dict:
    n = int.from_bytes(data[:4], "big")
    return json.loads(data[4 : 4 + n])


def until(ws, test):
    while True:
        m = ws.recv(timeout=120)
        item = frame_message(m) if isinstance(m, bytes) else json.loads(m)
        if test(item):
            return item


def edit_latency(ws_url: str, text: str) -> tuple[list[float], int]:
    """Seconds from sending an edit to the edited scene's frame at the playhead arriving."""
    from websockets.sync.client import connect

    times = []
    with connect(ws_url, max_size=None) as ws:
        until(ws, lambda m: m.get("type") == "hello")
        ws.send(json.dumps({"type": "edit", "rev": 1, "text": text, "index": 0}))  # warm-up: first renderer, first frame
        info = until(ws, lambda m: m.get("type") == "scene")
        until(ws, lambda m: m.get("key") == info["key"] and "index" in m)
        count = info["count"]
        for k in range(EDITS):
            time.sleep(0.3)  # mid render-ahead of the previous edit
            index = (k * 37) % count
            edited = re.sub(r"(?m)^seed: \d+", f"seed: {1000 + k}", text)
            began = time.perf_counter()
            ws.send(json.dumps({"type": "edit", "rev": k + 2, "text": edited, "index": index}))
            key = until(ws, lambda m: m.get("type") == "scene")["key"]
            until(ws, lambda m: m.get("key") == key and m.get("index") == index)
            times.append(time.perf_counter() - began)
        last = edited
    return times, count, last


def cached_stream(ws_url: str, text: str, count: int) -> float:
    """Frames per second at which a page receives a loop the server has cached."""
    from websockets.sync.client import connect

    with connect(ws_url, max_size=None) as ws:
        until(ws, lambda m: m.get("type") == "hello")
        ws.send(json.dumps({"type": "edit", "rev": 1, "text": text, "index": 0}))
        key = until(ws, lambda m: m.get("type") == "scene")["key"]
        seen = set()
        while len(seen) < count:  # the first pass fills the server's cache
            m = until(ws, lambda m: m.get("key") == key and "index" in m)
            seen.add(m["index"])
    with connect(ws_url, max_size=None) as ws:  # a new page: everything comes from the cache
        until(ws, lambda m: m.get("type") == "hello")
        began = time.perf_counter()
        ws.send(json.dumps({"type": "edit", "rev": 1, "text": text, "index": 0}))
        seen = set()
        while len(seen) < count:
            seen.add(until(ws, lambda m: m.get("key") == key and "index" in m)["index"])
        return count / (time.perf_counter() - began)


def disk_change(ws_url: str, path: Path, text: str) -> list[float]:
    """Seconds from another editor writing the file to the page hearing of it."""
    from websockets.sync.client import connect

    times = []
    with connect(ws_url, max_size=None) as ws:
        until(ws, lambda m: m.get("type") == "hello")
        for k in range(5):
            edited = re.sub(r"(?m)^seed: \d+", f"seed: {2000 + k}", text)
            began = time.perf_counter()
            path.write_text(edited)
            until(ws, lambda m: m.get("type") == "disk" and m["text"] == edited)
            times.append(time.perf_counter() - began)
            time.sleep(0.1)
    return times


def browser_playback(url: str, count: int, screenshot: str | None = None) -> float | None:
    """Frames the page draws per second once its loop is cached (headless Chromium), or None.

    With `screenshot`, the page is also saved there as a PNG (the README's docs/studio.png)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not exe:
        return None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 820})
        page.goto(url)
        page.wait_for_function(f"() => window.studioStats.cached >= {count}", timeout=300_000)
        start_drawn = page.evaluate("window.studioStats.drawn")
        time.sleep(5)
        drawn = page.evaluate("window.studioStats.drawn") - start_drawn
        if screenshot:
            page.screenshot(path=screenshot)
        browser.close()
    return drawn / 5


def frame_png(base: str, token: str) -> list[float]:
    times = []
    urllib.request.urlopen(f"{base}/frame.png?t=0&w=320&h=180&token={token}", timeout=120).read()  # warm-up
    for k in range(REQUESTS):
        t = round(0.37 * (k + 1), 3) % 8
        began = time.perf_counter()
        with urllib.request.urlopen(f"{base}/frame.png?t={t}&w=320&h=180&token={token}", timeout=120) as r:
            r.read()
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    text = (ROOT / SCENE).read_text()
    folder = Path(tempfile.mkdtemp(prefix="cppn-studio-bench-"))
    proc, url = start(folder)
    try:
        base, token = url.split("/?token=")[0], url.split("token=")[1]
        ws_url = base.replace("http", "ws") + f"/ws?token={token}"
        loads = {}
        png_times = frame_png(base, token)  # first: no page open, nothing rendering
        loads["png"] = load()
        edits, count, last = edit_latency(ws_url, text)
        loads["edits"] = load()
        stream_fps = cached_stream(ws_url, last, count)
        loads["stream"] = load()
        shot = sys.argv[sys.argv.index("--screenshot") + 1] if "--screenshot" in sys.argv else None
        page_fps = browser_playback(url, count, shot)
        loads["page"] = load()
        disk = disk_change(ws_url, folder / SCENE, text)
        loads["disk"] = load()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
    ms = lambda xs: [round(x * 1000, 1) for x in xs]  # noqa: E731
    result = {
        "edit_to_frame_ms_median": round(statistics.median(edits) * 1000, 1),
        "edit_to_frame_ms_max": round(max(edits) * 1000, 1),
        "playback_fps_browser": None if page_fps is None else round(page_fps, 1),
        "cached_stream_fps": round(stream_fps, 1),
        "frame_png_ms_median": round(statistics.median(png_times) * 1000, 1),
        "frame_png_ms_max": round(max(png_times) * 1000, 1),
        "disk_change_ms_max": round(max(disk) * 1000, 1),
        "edits_ms": ms(edits),
        "frame_png_ms": ms(png_times),
    }
    print(f"studio ({SCENE}, preview 320x180, {count} frames):")
    med, top = result["edit_to_frame_ms_median"], result["edit_to_frame_ms_max"]
    print(f"  studio edit -> first new preview frame: median {med} ms, max {top} ms ({EDITS} edits; target <= 300 ms): {verdict(med <= 300)}; {loads['edits']}")
    if page_fps is None:
        print("  studio playback once cached: not measured (no chromium or playwright)")
    else:
        fps = result["playback_fps_browser"]
        print(f"  studio playback once cached (headless chromium): {fps} fps (the scene's 30 fps; target >= 20): {verdict(fps >= 20)}; {loads['page']}")
    print(f"  studio cached loop streamed to a new page: {result['cached_stream_fps']} frames/s (target >= 20): {verdict(result['cached_stream_fps'] >= 20)}; {loads['stream']}")
    png = result["frame_png_ms_median"]
    print(f"  studio GET /frame.png 320x180: median {png} ms, max {result['frame_png_ms_max']} ms ({REQUESTS} requests; target <= 150 ms): {verdict(png <= 150)}; {loads['png']}")
    disk_ms = result["disk_change_ms_max"]
    print(f"  studio file changed on disk -> page told: max {disk_ms} ms (5 changes; target <= 1000 ms): {verdict(disk_ms <= 1000)}; {loads['disk']}")
    if "--json" in sys.argv:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
