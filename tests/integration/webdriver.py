"""A small WebDriver client (the W3C protocol over HTTP), standard library only.

Enough for the browser tests: start chromedriver (or use one already running),
open a session of headless Chromium, navigate, find elements by CSS selector,
click them, read their text and attributes, type into them, run a script, and
quit. Everything waits for a condition with a deadline, never for a fixed time:
finding an element uses WebDriver's own implicit wait (chromedriver blocks until
the element is there), and what the protocol cannot wait for (chromedriver
ready, a form's navigation done) goes through _until.

    drv = Driver.start()                     # chromedriver on a free port
    s = drv.session()
    s.get("http://127.0.0.1:8080/login")
    s.find("input[name=token]").send_keys("...")
    ...
    s.quit(); drv.stop()

Or, when the test started chromedriver itself (so its pid is recorded):
Driver.attach("http://127.0.0.1:PORT").
"""
import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
HEADLESS_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1800"]


POLL_S = 0.05  # how often _until asks again: the polling interval, not a wait for anything


class WebDriverError(Exception):
    pass


def _until(pred, deadline, what):
    """Ask pred() until it is true; WebDriverError(what()) after deadline seconds of wall time."""
    end = time.monotonic() + deadline
    while not pred():
        if time.monotonic() > end:
            raise WebDriverError(what())
        time.sleep(POLL_S)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(base, method, path, body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            answer = json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            answer = json.loads(e.read())
        except ValueError:
            raise WebDriverError(f"{method} {path}: HTTP {e.code}") from None
        v = answer.get("value", {})
        raise WebDriverError(f"{method} {path}: {v.get('error')}: {v.get('message', '')[:300]}") from None
    return answer.get("value")


class Driver:
    """A chromedriver: one this client started (stop() ends it) or one it attached to."""

    def __init__(self, base, proc=None):
        self.base, self.proc = base, proc

    @classmethod
    def start(cls, binary=None, port=None, deadline=30):
        binary = binary or shutil.which("chromedriver")
        if binary is None:
            raise WebDriverError("chromedriver is not installed (Debian: chromium-driver)")
        port = port or _free_port()
        proc = subprocess.Popen([binary, f"--port={port}", "--allowed-ips=127.0.0.1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        drv = cls(f"http://127.0.0.1:{port}", proc)
        drv.wait_ready(deadline)
        return drv

    @classmethod
    def attach(cls, base, deadline=30):
        drv = cls(base.rstrip("/"))
        drv.wait_ready(deadline)
        return drv

    def ready(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise WebDriverError("chromedriver exited")
        try:
            return bool((_call(self.base, "GET", "/status", timeout=5) or {}).get("ready"))
        except (OSError, WebDriverError):
            return False

    def wait_ready(self, deadline):
        _until(self.ready, deadline, lambda: "chromedriver not ready")

    def session(self, browser=None):
        opts = {"args": HEADLESS_ARGS}
        browser = browser or shutil.which("chromium") or shutil.which("chromium-browser")
        if browser:
            opts["binary"] = browser
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome",
                                                 "goog:chromeOptions": opts}}}
        v = _call(self.base, "POST", "/session", caps, timeout=120)
        return Session(self.base, v["sessionId"])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Element:
    def __init__(self, s, eid):
        self.s, self.eid = s, eid

    def _p(self, suffix):
        return f"/element/{self.eid}{suffix}"

    def click(self):
        self.s.cmd("POST", self._p("/click"), {})

    def text(self):
        return self.s.cmd("GET", self._p("/text"))

    def attr(self, name):
        return self.s.cmd("GET", self._p(f"/attribute/{name}"))

    def prop(self, name):
        return self.s.cmd("GET", self._p(f"/property/{name}"))

    def clear(self):
        self.s.cmd("POST", self._p("/clear"), {})

    def send_keys(self, text):
        self.s.cmd("POST", self._p("/value"), {"text": text})

    def find_all(self, css):
        v = self.s.cmd("POST", self._p("/elements"), {"using": "css selector", "value": css})
        return [Element(self.s, e[ELEMENT]) for e in v]


class Session:
    def __init__(self, base, sid):
        self.base, self.sid = base, sid

    def cmd(self, method, path, body=None, timeout=60):
        return _call(self.base, method, f"/session/{self.sid}{path}", body, timeout)

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def url(self):
        return self.cmd("GET", "/url")

    def source(self):
        return self.cmd("GET", "/source")

    def find_all(self, css):
        v = self.cmd("POST", "/elements", {"using": "css selector", "value": css})
        return [Element(self, e[ELEMENT]) for e in v]

    def find(self, css, deadline=30):
        """The first element css selects: chromedriver waits for it up to deadline seconds."""
        self.cmd("POST", "/timeouts", {"implicit": int(deadline * 1000)})
        try:
            v = self.cmd("POST", "/element", {"using": "css selector", "value": css},
                         timeout=deadline + 60)
        except WebDriverError as e:
            raise WebDriverError(f"no element {css!r} at {self.url()}: {e}") from None
        finally:
            self.cmd("POST", "/timeouts", {"implicit": 0})  # find_all answers at once
        return Element(self, v[ELEMENT])

    def wait_url(self, pred, deadline=60):
        """Wait until pred(the current URL) holds (a form's navigation has happened)."""
        _until(lambda: pred(self.url()), deadline, lambda: f"still at {self.url()}")

    def execute(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self, path):
        """The viewport as a PNG file."""
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot")))

    def quit(self):
        try:
            _call(self.base, "DELETE", f"/session/{self.sid}", timeout=30)
        except (OSError, WebDriverError):
            pass
