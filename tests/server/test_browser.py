"""A web page on another origin calls the endpoint through the AWS SDK for JavaScript.

Runs headless Chromium (Debian's ``chromium``) against a real ``streamkit serve``: the page
is served from a second port, so every call is cross-origin and the browser sends a CORS
pre-flight first. Skipped where Chromium, or npm for the SDK's browser build, is missing.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.server.serving import start_serve, stop

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SDK_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "streamkit-tests"

PAGE = """<!doctype html>
<script src="/aws-sdk.min.js"></script>
<script>
const db = new AWS.DynamoDB({
  endpoint: ENDPOINT, region: "us-east-1", maxRetries: 0,
  credentials: new AWS.Credentials("AKIDBROWSER", "secret"),
});
function report(result) {
  fetch("/result", {method: "POST", body: JSON.stringify(result)});
}
(async () => {
  try {
    await db.createTable({
      TableName: "web",
      KeySchema: [{AttributeName: "pk", KeyType: "HASH"}],
      AttributeDefinitions: [{AttributeName: "pk", AttributeType: "S"}],
      BillingMode: "PAY_PER_REQUEST",
    }).promise();
    const big = "b".repeat(4000);
    await db.putItem({TableName: "web", Item: {pk: {S: "page"}, big: {S: big}}}).promise();
    const listed = await db.listTables({}).promise();
    const got = await db.getItem({TableName: "web", Key: {pk: {S: "page"}}}).promise();
    report({ok: true, tables: listed.TableNames, size: got.Item.big.S.length});
  } catch (error) {
    report({ok: false, error: String(error), code: error.code});
  }
})();
</script>
"""


def sdk_bundle() -> Path:
    bundle = SDK_CACHE / "node_modules" / "aws-sdk" / "dist" / "aws-sdk.min.js"
    if bundle.exists():
        return bundle
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot fetch the AWS SDK for JavaScript")
    SDK_CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--prefix", str(SDK_CACHE), "--no-audit", "--no-fund", "aws-sdk@2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0 or not bundle.exists():
        pytest.skip(f"could not install the AWS SDK for JavaScript: {done.stderr[-500:]}")
    return bundle


def page_server(endpoint: str, bundle: Path, results: queue.Queue[Any]) -> ThreadingHTTPServer:
    page = PAGE.replace("ENDPOINT", json.dumps(endpoint)).encode()
    script = bundle.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, kind = (
                (script, "text/javascript")
                if self.path.endswith(".js")
                else (
                    page,
                    "text/html",
                )
            )
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            results.put(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    return CHROMIUM


def test_a_page_lists_and_puts_through_the_js_sdk(chromium: str) -> None:
    bundle = sdk_bundle()
    process, endpoint, _ = start_serve("--memory")
    results: queue.Queue[Any] = queue.Queue()
    pages = page_server(endpoint, bundle, results)
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    profile = tempfile.mkdtemp(prefix="streamkit-chromium-")
    browser = subprocess.Popen(
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"http://127.0.0.1:{pages.server_address[1]}/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        result = results.get(timeout=60)
    finally:
        browser.kill()
        browser.wait(timeout=10)
        pages.shutdown()
        pages.server_close()
        stop(process)
        shutil.rmtree(profile, ignore_errors=True)
    assert result == {"ok": True, "tables": ["web"], "size": 4000}
