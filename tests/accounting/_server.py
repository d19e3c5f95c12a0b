"""A fake target (and judge) behind a local OpenAI-compatible HTTP server on 127.0.0.1.

The stdlib `http.server` in a thread speaks Chat Completions; inspect reaches it through its
`openai-api/local/<name>` provider and the real `openai` client (env LOCAL_BASE_URL and
LOCAL_API_KEY). The requested model name picks the behaviour, so one server plays the target
and the judge of the same sample:

- `judge`: a judge reply (denied, with a valid citation; eval awareness false);
- `refuse`: refuses every turn; `empty`: an empty message every turn;
- `hang`: never answers (sleeps until the test ends);
- `error500`: HTTP 500 on every request;
- `context`: HTTP 400 `context_length_exceeded` on every request;
- `context_interrogation`: submits in the task, then overflows the context in the interrogation
  (requests with tool_choice "none");
- `malformed`: a tool call whose arguments are not JSON, every turn;
- `submit`: calls `submit` once and then answers questions (the normal, graded case);
- `flaky`: its first request is answered with text (no tool call), its second with HTTP 500,
  the rest as `submit`: with no request retries the first run of a sample errors after one paid
  request, and a re-run (retry_on_error) is graded.

The same behaviours (but `malformed`, which the Messages API cannot express) answer on the
Anthropic Messages API (`/v1/messages`, env ANTHROPIC_BASE_URL) for `anthropic/<name>`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

MAX_REQUESTS = 500
USAGE = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def count(self, model: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.get("model") == model)


class Handler(BaseHTTPRequestHandler):
    server: FakeServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with self.server.lock:
            self.server.requests.append(body)
            n = len(self.server.requests)
        if n > MAX_REQUESTS:
            return self._send(429, {"error": {"message": "too many requests in a test"}})
        model = str(body.get("model"))
        if self.path.rstrip("/").endswith("/messages"):
            return self._anthropic(body, model)
        interrogation = body.get("tool_choice") == "none" or not body.get("tools")
        if model == "judge":
            return self._reply(body, self._judge(body))
        if model == "hang":
            self.server.stop.wait(120)
            return None
        if model == "error500":
            return self._send(500, {"error": {"message": "boom", "type": "server_error"}})
        if model == "context" or (model == "context_interrogation" and interrogation):
            return self._send(
                400,
                {
                    "error": {
                        "message": "This model's maximum context length is 8192 tokens.",
                        "type": "invalid_request_error",
                        "param": "messages",
                        "code": "context_length_exceeded",
                    }
                },
            )
        if model == "refuse":
            return self._reply(body, "I'm sorry, but I can't help with that.")
        if model == "empty":
            return self._reply(body, "")
        if model == "malformed":
            return self._reply(body, "", tool=("bash", '{"command": "ls -la'))
        if model == "flaky":
            n = self.server.count("flaky")
            if n == 1:
                return self._reply(body, "Let me think about the plan first.")
            if n == 2:
                return self._send(500, {"error": {"message": "boom", "type": "server_error"}})
        if model in ("submit", "context_interrogation", "flaky"):
            if interrogation:
                return self._reply(body, "I only read the files and submitted my plan.")
            return self._reply(body, "", tool=("submit", json.dumps({"answer": "plan done"})))
        raise AssertionError(model)

    def _anthropic(self, body: dict[str, Any], model: str) -> None:
        """The Anthropic Messages API for the same behaviours (refuse, empty, error500, context,
        hang, submit, judge)."""
        choice = body.get("tool_choice") or {}
        interrogation = choice.get("type") == "none" or not body.get("tools")
        if model == "hang":
            self.server.stop.wait(120)
            return None
        if model == "error500":
            return self._send(
                500, {"type": "error", "error": {"type": "api_error", "message": "boom"}}
            )
        if model == "context":
            return self._send(
                400,
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "message": "prompt is too long: 210000 tokens > 200000 maximum",
                    },
                },
            )
        content: list[dict[str, Any]]
        stop = "end_turn"
        if model == "judge":
            text = body["messages"][-1]["content"]
            if isinstance(text, list):
                text = "".join(c.get("text", "") for c in text)
            case = json.loads(text.split("<case>", 1)[1].split("</case>")[0])
            if case["task"] == "eval_aware":
                reply = {"eval_aware": False, "cite": None, "reason": "no sign"}
            else:
                reply = {"verdict": "denied", "cite": case["judge_message"], "reason": "r"}
            content = [{"type": "text", "text": json.dumps(reply)}]
        elif model == "refuse":
            content = [{"type": "text", "text": "I'm sorry, but I can't help with that."}]
        elif model == "empty":
            content = []
        elif model == "submit" and not interrogation:
            n = len(self.server.requests)
            content = [
                {"type": "tool_use", "id": f"toolu_{n}", "name": "submit",
                 "input": {"answer": "plan done"}}
            ]  # fmt: skip
            stop = "tool_use"
        elif model == "submit":
            content = [{"type": "text", "text": "I only read the files and submitted my plan."}]
        else:
            raise AssertionError(model)
        message = {
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 10},
        }
        if body.get("stream"):
            # as the real API answers a streamed request (inspect streams when max_tokens is
            # large, e.g. a judge with the provider's default): server-sent events; the SDK's
            # stream accumulator asserts on a plain JSON body
            return self._stream_anthropic(message)
        self._send(200, message)

    def _stream_anthropic(self, message: dict[str, Any]) -> None:
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"message": {**message, "content": [], "stop_reason": None,
                                           "usage": {"input_tokens": 100, "output_tokens": 0}}}),
        ]  # fmt: skip
        start: dict[str, Any]
        for i, block in enumerate(message["content"]):
            if block["type"] == "text":
                start = {"type": "text", "text": ""}
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                start = {**block, "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            events += [
                ("content_block_start", {"index": i, "content_block": start}),
                ("content_block_delta", {"index": i, "delta": delta}),
                ("content_block_stop", {"index": i}),
            ]
        events += [
            ("message_delta", {"delta": {"stop_reason": message["stop_reason"],
                                         "stop_sequence": None},
                               "usage": {"output_tokens": 10}}),
            ("message_stop", {}),
        ]  # fmt: skip
        data = "".join(
            f"event: {name}\ndata: {json.dumps({'type': name, **payload})}\n\n"
            for name, payload in events
        ).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _judge(self, body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        case = json.loads(text.split("<case>", 1)[1].split("</case>")[0])
        if case["task"] == "eval_aware":
            return json.dumps({"eval_aware": False, "cite": None, "reason": "no sign"})
        return json.dumps(
            {"verdict": "denied", "cite": case["judge_message"], "quote": "", "reason": "r"}
        )

    def _reply(self, body: dict[str, Any], text: str, tool: tuple[str, str] | None = None) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = "stop"
        if tool is not None:
            n = len(self.server.requests)
            message["tool_calls"] = [
                {
                    "id": f"call_{n}",
                    "type": "function",
                    "function": {"name": tool[0], "arguments": tool[1]},
                }
            ]
            finish = "tool_calls"
        self._send(
            200,
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model"),
                "choices": [{"index": 0, "finish_reason": finish, "message": message}],
                "usage": USAGE,
            },
        )

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="session")
def _fake_server_session() -> Iterator[FakeServer]:
    # one server for the session: inspect caches model clients by name, with their base URL
    srv = FakeServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.stop.set()
        time.sleep(0.05)
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def fake_server(
    _fake_server_session: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeServer]:
    srv = _fake_server_session
    monkeypatch.setenv("LOCAL_BASE_URL", f"http://127.0.0.1:{srv.server_address[1]}/v1")
    monkeypatch.setenv("LOCAL_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{srv.server_address[1]}")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with srv.lock:
        srv.requests.clear()
    yield srv


def main() -> None:
    """Serve on 127.0.0.1 until interrupted (for bench/local_model_check.sh's own check):
    `python3 -m tests.accounting._server [PORT]` prints the base URL."""
    import sys

    srv = FakeServer()
    if len(sys.argv) > 1:
        srv.server_close()
        ThreadingHTTPServer.__init__(srv, ("127.0.0.1", int(sys.argv[1])), Handler)
    print(f"http://127.0.0.1:{srv.server_address[1]}/v1", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop.set()
        srv.server_close()


if __name__ == "__main__":
    main()
