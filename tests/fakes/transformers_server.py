"""A real OpenAI-compatible server for tests: `transformers serve` on 127.0.0.1 serving a tiny local model.

Needs fastapi + uvicorn (`pip install 'seqit[serve]'`, part of the dev extra); SEQIT_SERVE_PYTHONPATH may name
a directory holding them (a side install). Offline: the model is built in-process, nothing is downloaded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def serve_env() -> dict[str, str]:
    paths = [p for p in (os.environ.get("SEQIT_SERVE_PYTHONPATH", ""), str(SRC), os.environ.get("PYTHONPATH", "")) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "HF_HUB_OFFLINE": "1"}


def can_serve(env: dict[str, str]) -> bool:
    return subprocess.run([sys.executable, "-c", "import fastapi, uvicorn"], env=env, capture_output=True).returncode == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("transformers serve did not become healthy")


@contextmanager
def serve_model(model_dir: Path, log_path: Path, env: dict[str, str]) -> Iterator[str]:
    """Run `transformers serve MODEL_DIR` on a free loopback port; yields the /v1 base URL."""
    port = free_port()
    code = (
        "import sys; from transformers.cli.transformers import main; "
        f"sys.argv = ['transformers', 'serve', {str(model_dir)!r}, '--host', '127.0.0.1', '--port', '{port}', "
        "'--device', 'cpu']; sys.exit(main())"
    )
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(f"http://127.0.0.1:{port}/health", proc)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
