"""Headless Chromium (Debian's package) driven over the DevTools protocol: open a page with the
credentials a team member's browser would hold, wait for text to show, save a screenshot.
No driver package: the protocol's JSON over the websocket that Prefect already installs."""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    def __init__(self) -> None:
        from websockets.sync.client import connect

        self.profile = tempfile.mkdtemp(prefix="danlu-chromium-")
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--remote-debugging-port=0", "--window-size=1440,1000",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in self.process.stderr:
            if found := re.search(r"DevTools listening on (ws://\S+)", line):
                break
        else:
            raise RuntimeError("chromium exited before opening its DevTools port")
        self.ws = connect(found.group(1), max_size=64 * 2**20)
        self.ids = itertools.count(1)
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        self.call("Network.enable", session=True)
        self.call("Page.enable", session=True)

    def call(self, method: str, session: bool = False, **params) -> dict:
        message = {"id": next(self.ids), "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open(self, url: str, headers: dict | None = None) -> None:
        self.call("Network.setExtraHTTPHeaders", session=True, headers=headers or {})
        self.call("Page.navigate", session=True, url=url)

    def text(self) -> str:
        result = self.call("Runtime.evaluate", session=True,
                           expression="document.body ? document.body.innerText : ''")
        return result["result"].get("value", "")

    def wait_for(self, *needles: str, seconds: float = 60) -> str:
        """The page's text once every needle shows in it."""
        deadline = time.monotonic() + seconds
        while True:
            text = self.text()
            if all(n in text for n in needles):
                return text
            if time.monotonic() > deadline:
                missing = [n for n in needles if n not in text]
                raise AssertionError(f"{missing} not on the page after {seconds:.0f} s; it "
                                     f"shows:\n{text[:1500]}")
            time.sleep(1)

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            self.process.wait(timeout=30)
            shutil.rmtree(self.profile, ignore_errors=True)


def basic_auth(user_and_password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(user_and_password.encode()).decode()}
