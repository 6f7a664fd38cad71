"""A fake OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks.

Speaks just enough HTTP/1.1 (keep-alive, Content-Length) for the official `openai` client:
POST /v1/chat/completions and GET /v1/models, plus the Files API (POST /v1/files multipart,
GET /v1/files/{id}[/content]) and the Batches API (POST/GET /v1/batches, GET /v1/batches/{id},
POST /v1/batches/{id}/cancel) in the OpenAI reference's shapes: a batch goes validating ->
in_progress -> completed after `batch_delay_s`, its output/error files hold one line per request
({"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}). Batch knobs:
`batch_line_faults` (share of lines failing with a 400 reason), `batch_fail` (the batch fails
validation with this message), `batch_expire_after` (only N lines answered, status expired).
Counters: `batches`, `batch_polls[id]`, `batch_lines[content]`. Behaviour knobs:

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
        # Files + Batches API state and knobs
        self.files: dict[str, bytes] = {}
        self.file_objects: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_polls: Counter[str] = Counter()
        self.batch_lines: Counter[str] = Counter()  # answered batch lines, keyed by last user message
        self.batch_delay_s = 0.2
        self.batch_line_faults = 0.0
        self.batch_fail: str | None = None
        self.batch_expire_after: int | None = None
        self._cancel: set[str] = set()
        self._tasks: list[asyncio.Future] = []
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
        if "/files" in path or "/batches" in path:
            return await self._batch_api(method, path.split("?")[0].rstrip("/"), path, headers, raw)
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

    # -- Files + Batches API (the OpenAI reference's shapes) ---------------------------------------

    async def _batch_api(self, method: str, path: str, full: str, headers: dict[str, str], raw: bytes):
        parts = path.split("/")  # ["", "v1", "files", id, "content"]
        tail = parts[parts.index("files" if "files" in parts else "batches"):]
        if tail == ["files"] and method == "POST":
            purpose, name, data = _parse_multipart(headers.get("content-type", ""), raw)
            fid = f"file-{len(self.files) + 1:04d}"
            self.files[fid] = data
            obj = {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                   "filename": name, "purpose": purpose, "status": "processed"}
            self.file_objects[fid] = obj
            return 200, {}, json.dumps(obj).encode()
        if tail[0] == "files" and len(tail) >= 2:
            if tail[1] not in self.files:
                return 404, {}, b'{"error": {"message": "No such file"}}'
            if len(tail) == 3 and tail[2] == "content":
                return 200, {"content-type": "application/octet-stream"}, self.files[tail[1]]
            return 200, {}, json.dumps(self.file_objects[tail[1]]).encode()
        if tail == ["batches"] and method == "POST":
            req = json.loads(raw)
            if req.get("input_file_id") not in self.files:
                return 400, {}, b'{"error": {"message": "input_file_id not found"}}'
            bid = f"batch_{len(self.batches) + 1:04d}"
            batch = {"id": bid, "object": "batch", "endpoint": req["endpoint"], "errors": None,
                     "input_file_id": req["input_file_id"], "completion_window": req["completion_window"],
                     "status": "validating", "output_file_id": None, "error_file_id": None,
                     "created_at": int(time.time()), "in_progress_at": None, "completed_at": None,
                     "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": req.get("metadata")}
            self.batches[bid] = batch
            self._tasks.append(asyncio.ensure_future(self._process_batch(batch)))
            return 200, {}, json.dumps(batch).encode()
        if tail == ["batches"] and method == "GET":
            data = sorted(self.batches.values(), key=lambda b: b["id"], reverse=True)  # newest first
            return 200, {}, json.dumps({"object": "list", "data": data, "has_more": False}).encode()
        if tail[0] == "batches" and len(tail) >= 2:
            batch = self.batches.get(tail[1])
            if batch is None:
                return 404, {}, b'{"error": {"message": "No such batch"}}'
            if len(tail) == 3 and tail[2] == "cancel" and method == "POST":
                batch["status"] = "cancelling"
                self._cancel.add(batch["id"])
            self.batch_polls[batch["id"]] += 1
            return 200, {}, json.dumps(batch).encode()
        return 404, {}, b'{"error": {"message": "not found"}}'

    async def _process_batch(self, batch: dict[str, Any]) -> None:
        """validating -> in_progress -> (batch_delay_s) -> completed; lines answered like chat calls.
        `batch_line_faults` is the share of lines that fail (into the error file with a reason);
        `batch_fail` fails the whole batch at validation; `batch_expire_after` answers only the
        first N lines and ends the batch 'expired'."""
        lines = [json.loads(x) for x in self.files[batch["input_file_id"]].splitlines() if x.strip()]
        batch["request_counts"]["total"] = len(lines)
        await asyncio.sleep(self.batch_delay_s / 4)
        if self.batch_fail:
            batch.update(status="failed", errors={"object": "list", "data": [
                {"code": "invalid_request", "message": self.batch_fail, "line": 1}]})
            return
        batch.update(status="in_progress", in_progress_at=int(time.time()))
        await asyncio.sleep(self.batch_delay_s * 3 / 4)
        out, err = [], []
        for i, line in enumerate(lines):
            if batch["id"] in self._cancel or (self.batch_expire_after is not None and i >= self.batch_expire_after):
                break
            body = line["body"]
            users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
            self.batch_lines[users[-1] if users else ""] += 1
            rid = f"batch_req_{batch['id']}_{i}"
            if self._rng.random() < self.batch_line_faults:
                msg = {"error": {"message": f"line {i}: context_length_exceeded", "type": "invalid_request_error"}}
                err.append({"id": rid, "custom_id": line["custom_id"], "response": {"status_code": 400,
                            "request_id": rid, "body": msg}, "error": None})
                continue
            text = self.reply(body)
            out.append({"id": rid, "custom_id": line["custom_id"], "response": {
                "status_code": 200, "request_id": rid, "body": _completion_body(body, text, int(body.get("n") or 1))},
                "error": None})
        for name, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                fid = f"file-{len(self.files) + 1:04d}"
                self.files[fid] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                self.file_objects[fid] = {"id": fid, "object": "file", "bytes": len(self.files[fid]),
                                          "created_at": int(time.time()), "filename": f"{name}.jsonl",
                                          "purpose": "batch_output", "status": "processed"}
                batch[name] = fid
        status = "cancelled" if batch["id"] in self._cancel else (
            "expired" if self.batch_expire_after is not None and len(lines) > self.batch_expire_after else "completed")
        batch.update(status=status, completed_at=int(time.time()),
                     request_counts={"total": len(lines), "completed": len(out), "failed": len(err)})

    def _pick_fault(self) -> str:
        r = self._rng.random()
        acc = 0.0
        for kind, p in self.faults.items():
            acc += p
            if r < acc:
                return kind
        return "ok"


def _parse_multipart(content_type: str, raw: bytes) -> tuple[str, str, bytes]:
    """(purpose, filename, file bytes) of a multipart/form-data upload."""
    from email.parser import BytesParser
    from email.policy import HTTP

    msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    purpose, name, data = "", "", b""
    for part in msg.iter_parts():
        field = part.get_param("name", header="content-disposition")
        if field == "purpose":
            purpose = part.get_payload(decode=True).decode().strip()
        elif field == "file":
            name = part.get_filename() or "upload.jsonl"
            data = part.get_payload(decode=True)
    return purpose, name, data


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
