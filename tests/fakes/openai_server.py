"""A fake OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks.

Speaks just enough HTTP/1.1 (keep-alive, Content-Length) for the official `openai` client:
POST /v1/chat/completions and GET /v1/models. Behaviour knobs:

- `reply(body) -> str`: the assistant text (default: "echo: " + last user message)
- `latency_s`: fixed delay before each answer (`slow_frac` of answers take `slow_mult` x that)
- `capacity`: max concurrent requests; one more gets a 429 ("over capacity")
- `faults`: probabilities per attempt, e.g. {"429": 0.2, "500": 0.1, "hang": 0.05, "garbage": 0.05}
  (429 carries `Retry-After: retry_after_s`, "429_bare" is a 429 without it; "hang" sleeps `hang_s` then answers; "garbage" is a
  200 with a non-JSON body; "trickle" sends a 200 body one byte every `trickle_s`)
- `api_key`: when set, any other bearer token gets a 401

GET /v1/_stats (?reset=1) returns the counters as JSON for out-of-process use.
Counters (thread-safe to read after the fact): `attempts[content]`, `successes[content]`
(keyed by the last user message), `kinds[kind]`, `max_in_flight`, `auth_headers`.

Run standalone (used by benchmarks/ and subprocess tests):
    python tests/fakes/openai_server.py --latency 0.5 --capacity 32   # prints "PORT <n>"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any


def _echo(body: dict[str, Any]) -> str:
    users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
    return "echo: " + (users[-1] if users else "")


class FakeOpenAIServer:
    def __init__(
        self,
        reply: Callable[[dict[str, Any]], str] | None = None,
        latency_s: float = 0.0,
        capacity: int | None = None,
        faults: dict[str, float] | None = None,
        retry_after_s: float = 0.05,
        capacity_retry_after_s: float | None = None,
        hang_s: float = 5.0,
        slow_frac: float = 0.0,
        slow_mult: float = 1.0,
        api_key: str | None = None,
        seed: int = 0,
        port: int = 0,
    ):
        self.reply = reply or _echo
        self.latency_s = latency_s
        self.capacity = capacity
        self.faults = dict(faults or {})
        self.retry_after_s = retry_after_s
        self.capacity_retry_after_s = capacity_retry_after_s
        self.hang_s = hang_s
        self.trickle_s = 0.1
        self.slow_frac = slow_frac  # this share of answers takes slow_mult x latency_s (long outputs)
        self.slow_mult = slow_mult
        self.api_key = api_key
        self._rng = random.Random(seed)
        self._port = port
        self.attempts: Counter[str] = Counter()
        self.successes: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.auth_headers: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        """Serve in a background thread (own event loop)."""
        self._thread = threading.Thread(target=self._run_thread, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    def _run_thread(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self.serve())
        self._ready.set()
        self._loop.run_forever()

    async def serve(self) -> None:
        """Start listening on the current loop (for running in-process without a thread)."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self._port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is None:
            return

        async def _close() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(_close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset_counts(self) -> None:
        self.attempts.clear()
        self.successes.clear()
        self.kinds.clear()
        self.auth_headers.clear()
        self.max_in_flight = 0

    # -- HTTP -----------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                status, extra, payload = await self._route(method, path, headers, body)
                await self._respond(writer, status, extra, payload)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def _respond(self, writer: asyncio.StreamWriter, status: int, extra: dict[str, str], payload: bytes) -> None:
        trickle = extra.pop("x-trickle", None)
        reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}
        ctype = extra.pop("content-type", "application/json")
        head = f"HTTP/1.1 {status} {reason.get(status, 'Error')}\r\ncontent-type: {ctype}\r\ncontent-length: {len(payload)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in extra.items()) + "\r\n"
        if trickle:  # a live but uselessly slow server: one body byte every trickle_s
            writer.write(head.encode("latin-1"))
            for i in range(len(payload)):
                writer.write(payload[i : i + 1])
                await writer.drain()
                await asyncio.sleep(self.trickle_s)
            return
        writer.write(head.encode("latin-1") + payload)
        await writer.drain()

    async def _route(self, method: str, path: str, headers: dict[str, str], raw: bytes):
        if method == "GET" and path.split("?")[0].endswith("/_stats"):  # for out-of-process use (benchmarks)
            stats = {"kinds": dict(self.kinds), "max_in_flight": self.max_in_flight,
                     "attempts": sum(self.attempts.values()), "successes": sum(self.successes.values())}
            if path.endswith("?reset=1"):
                self.reset_counts()
            return 200, {}, json.dumps(stats).encode()
        if method == "GET" and path.rstrip("/").endswith("/models"):
            return 200, {}, json.dumps({"object": "list", "data": [{"id": "fake-model", "object": "model"}]}).encode()
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            return 404, {}, b'{"error": {"message": "not found"}}'
        self.auth_headers[headers.get("authorization", "")] += 1
        body = json.loads(raw or b"{}")
        users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
        key = users[-1] if users else ""
        self.attempts[key] += 1
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            self.kinds["401"] += 1
            given = headers.get("authorization", "").removeprefix("Bearer ")
            # like real providers, echo the key that was presented (tests check seqit redacts it)
            msg = {"error": {"message": f"Incorrect API key provided: {given}", "code": "invalid_api_key"}}
            return 401, {}, json.dumps(msg).encode()
        if self.capacity is not None and self.in_flight >= self.capacity:
            self.kinds["429_capacity"] += 1
            extra = {"retry-after": f"{self.capacity_retry_after_s:g}"} if self.capacity_retry_after_s else {}
            return 429, extra, b'{"error": {"message": "over capacity"}}'
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            kind = self._pick_fault()
            self.kinds[kind] += 1
            if kind == "429":
                return 429, {"retry-after": f"{self.retry_after_s:g}"}, b'{"error": {"message": "rate limited"}}'
            if kind == "429_bare":
                return 429, {}, b'{"error": {"message": "rate limited"}}'
            if kind == "500":
                return 500, {}, b'{"error": {"message": "internal error"}}'
            if kind == "hang":
                await asyncio.sleep(self.hang_s)
            if self.latency_s:
                slow = self.slow_frac and self._rng.random() < self.slow_frac
                await asyncio.sleep(self.latency_s * (self.slow_mult if slow else 1.0))
            if kind == "trickle":
                return 200, {"x-trickle": "1"}, json.dumps(_completion_body(body, self.reply(body), 1)).encode()
            if kind == "garbage":
                return 200, {"content-type": "application/json"}, b"<html>502 Bad Gateway</html>"
            n = int(body.get("n") or 1)
            text = self.reply(body)
            self.successes[key] += 1
            return 200, {}, json.dumps(_completion_body(body, text, n)).encode()
        finally:
            self.in_flight -= 1

    def _pick_fault(self) -> str:
        r = self._rng.random()
        acc = 0.0
        for kind, p in self.faults.items():
            acc += p
            if r < acc:
                return kind
        return "ok"


def _completion_body(body: dict[str, Any], text: str, n: int) -> dict[str, Any]:
    prompt_chars = sum(len(m.get("content") or "") for m in body.get("messages", []))
    return {
        "id": f"chatcmpl-{int(time.time() * 1e6)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"} for i in range(n)
        ],
        "usage": {
            "prompt_tokens": max(1, prompt_chars // 4),
            "completion_tokens": max(1, len(text) // 4) * n,
            "total_tokens": max(1, prompt_chars // 4) + max(1, len(text) // 4) * n,
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--capacity", type=int, default=None)
    ap.add_argument("--slow-frac", type=float, default=0.0)
    ap.add_argument("--slow-mult", type=float, default=1.0)
    ap.add_argument("--reply", choices=["echo", "selfseq"], default="echo",
                    help="selfseq: the well-behaved scripted Self-Seq teacher (teacher_scripts.good_reply)")
    args = ap.parse_args()
    reply = None
    if args.reply == "selfseq":
        from teacher_scripts import good_reply  # this folder is on sys.path when run as a script

        def reply(body: dict[str, Any]) -> str:
            return good_reply(body["messages"])

    async def run() -> None:
        server = FakeOpenAIServer(reply=reply, latency_s=args.latency, capacity=args.capacity, port=args.port,
                                  slow_frac=args.slow_frac, slow_mult=args.slow_mult)
        await server.serve()
        print(f"PORT {server.port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
