"""What every real-client test under .ci/ shares: the tiny synthetic model, starting `nomoat serve`
on a free loopback port and waiting for /health, stopping it, and a checked assertion.

    from serverkit import Server, check, tiny_model
    with Server(binary, ["-m", model, "--chat-template", "chatml"]) as srv:
        ... srv.base ...        # http://127.0.0.1:PORT
"""
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_ARGS = ["--dim", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2",
             "--ffn", "192", "--vocab", "512", "--dtype", "f32"]


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}", flush=True)


def default_binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "debug", "nomoat")


def tiny_model():
    """The tiny random llama (built with ../shared/reference/make_synthetic_gguf.py if missing)."""
    path = os.path.join(ROOT, "target", "testdata", "tiny-llama-f32.gguf")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        script = os.path.join(ROOT, "..", "shared", "reference", "make_synthetic_gguf.py")
        subprocess.run([sys.executable, script, path] + TINY_ARGS, check=True)
    return path


class Server:
    """`nomoat serve ARGS --port 0`: the bound address is read from its first line, then /health
    is polled until 200 (or `health_timeout` seconds). On exit it is stopped with SIGTERM and must
    exit with status 0 (unless the block raised)."""

    def __init__(self, binary, args, health_timeout=180, env=None, health_headers=None):
        self.cmd = [binary, "serve", "--port", "0"] + list(args)
        self.health_timeout = health_timeout
        self.env = env
        self.health_headers = health_headers or {}
        self.proc = None
        self.base = None
        self.stderr_lines = []

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=self.env)
        line = self.proc.stdout.readline()
        m = re.match(r"listening on (http://\S+)", line)
        if not m:
            self.proc.kill()
            raise SystemExit(f"unexpected first line from the server: {line!r}\n{self.proc.stderr.read()}")
        self.base = m.group(1)
        threading.Thread(target=lambda: self.stderr_lines.extend(self.proc.stderr), daemon=True).start()
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        deadline = time.time() + self.health_timeout
        while True:
            try:
                req = urllib.request.Request(self.base + "/health", headers=self.health_headers)
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                raise SystemExit("server did not become healthy:\n" + "".join(self.stderr_lines))
            time.sleep(0.2)
        return self

    def stop(self):
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return code

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.proc.kill()
            self.proc.wait()
            sys.stderr.write("server stderr:\n" + "".join(self.stderr_lines[-50:]))
            return False
        code = self.stop()
        check(code == 0, f"server exited cleanly (status {code})")
        return False
