#!/usr/bin/env python3
"""Screenshot of a dashboard page in headless chromium, over WebDriver.

    scripts/screenshot.py http://127.0.0.1:PORT/ docs/dashboard.png [WIDTHxHEIGHT]

Waits until the page shows a found block and chart data (polling the DOM),
then saves a PNG. Needs Debian's chromium and chromium-driver.
"""
import base64
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def call(base, method, path, body=None):
    data = json.dumps(body if body is not None else {}).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["value"]


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    url, out = sys.argv[1], sys.argv[2]
    size = sys.argv[3].replace("x", ",") if len(sys.argv) == 4 else "1280,1500"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    driver = subprocess.Popen(["chromedriver", f"--port={port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if call(base, "GET", "/status").get("ready"):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        profile = tempfile.mkdtemp(prefix="chiral-shot-")
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--window-size={size}",
                "--hide-scrollbars", f"--user-data-dir={profile}"]
        session = call(base, "POST", "/session", {"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}})
        sid = session["sessionId"]
        call(base, "POST", f"/session/{sid}/url", {"url": url})
        ready = ("return document.querySelectorAll('#blocks tbody tr').length > 0"
                 " && Number(document.getElementById('chart').dataset.points) > 2")
        deadline = time.time() + 120
        while not call(base, "POST", f"/session/{sid}/execute/sync",
                       {"script": ready, "args": []}):
            if time.time() > deadline:
                sys.exit("the page showed no block and chart within 120 s")
            time.sleep(0.5)
        png = call(base, "GET", f"/session/{sid}/screenshot")
        with open(out, "wb") as f:
            f.write(base64.b64decode(png))
        call(base, "DELETE", f"/session/{sid}")
        print(f"saved {out}")
    finally:
        driver.kill()


if __name__ == "__main__":
    main()
