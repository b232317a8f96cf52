"""A fast fake LLM vendor: ``python -m benchmarks._upstream PORT``.

One process answers the three wire formats the provider plugins speak, each with the bytes
the vendor sends (field for field, as of their current APIs):

- ``POST /v1/chat/completions`` (or ``/chat/completions``): OpenAI chat completions SSE,
  a role chunk, one chunk per token, the finish chunk, the usage chunk when
  ``stream_options.include_usage`` is asked, ``data: [DONE]``;
- ``POST /v1/messages``: Anthropic Messages SSE (``message_start``, ``content_block_start``,
  ``ping``, one ``content_block_delta`` per token, ``content_block_stop``,
  ``message_delta``, ``message_stop``);
- ``POST /api/chat``: Ollama NDJSON, one line per token and the ``done`` line.

The length and pace of a reply are read from the request body: ``tokens=N delay=S`` in the
last user message (every server under test forwards the message as it is). Paced replies
sleep ``S`` before each token, as the echo provider does; instant ones (``delay=0``) are
written in a few large writes. Every token's text is `TOKEN_TEXT`, whose `MARK` the load
client counts in whatever format a server relays it.

It is a bare asyncio server (uvloop when installed) with a minimal HTTP/1.1 reader
(keep-alive, ``Content-Length`` or chunked request bodies) and pre-encoded frames, so that
its own cost per token stays far below any server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import Callable
from typing import Final

__all__ = ["MARK", "TOKEN_TEXT", "main", "prompt"]

TOKEN_TEXT: Final = "t~"
MARK: Final = b"~"
_PACE: Final = re.compile(rb"tokens=(\d+) delay=([0-9.]+)")
_INCLUDE_USAGE: Final = re.compile(rb'"include_usage"\s*:\s*true')
_WRITE: Final = 1 << 16


def prompt(tokens: int, delay: float) -> str:
    """The user message that asks the fake for ``tokens`` tokens, ``delay`` seconds apart."""
    return f"tokens={tokens} delay={delay:g}"


# -- OpenAI -----------------------------------------------------------------------------

_OPENAI_HEAD: Final = (
    '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1732000000,'
    '"model":"gpt-4o-mini-2024-07-18","service_tier":"default",'
    '"system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":'
)


def _openai(tokens: int, usage: bool) -> tuple[bytes, bytes, bytes]:
    tail = ',"usage":null}' if usage else "}"

    def chunk(delta: str, finish: str = "null") -> bytes:
        body = f'{_OPENAI_HEAD}{delta},"logprobs":null,"finish_reason":{finish}}}]{tail}'
        return f"data: {body}\n\n".encode()

    start = chunk('{"role":"assistant","content":"","refusal":null}')
    token = chunk(f'{{"content":"{TOKEN_TEXT}"}}')
    end = chunk("{}", '"stop"')
    if usage:
        report = (
            '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1732000000,'
            '"model":"gpt-4o-mini-2024-07-18","service_tier":"default",'
            '"system_fingerprint":"fp_0ba0d124f1","choices":[],"usage":{"prompt_tokens":12,'
            f'"completion_tokens":{tokens},"total_tokens":{tokens + 12},'
            '"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
            '"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
            '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}'
        )
        end += f"data: {report}\n\n".encode()
    return start, token, end + b"data: [DONE]\n\n"


# -- Anthropic --------------------------------------------------------------------------


def _event(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()


def _anthropic(tokens: int) -> tuple[bytes, bytes, bytes]:
    start = _event(
        "message_start",
        '{"type":"message_start","message":{"id":"msg_01BenchBenchBenchBenchBe",'
        '"type":"message","role":"assistant","model":"claude-sonnet-4-6","content":[],'
        '"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,'
        '"cache_creation_input_tokens":0,"cache_read_input_tokens":0,'
        '"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},'
        '"output_tokens":1,"service_tier":"standard"}}}',
    )
    start += _event(
        "content_block_start",
        '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
    )
    start += _event("ping", '{"type": "ping"}')
    token = _event(
        "content_block_delta",
        '{"type":"content_block_delta","index":0,'
        f'"delta":{{"type":"text_delta","text":"{TOKEN_TEXT}"}}}}',
    )
    end = _event("content_block_stop", '{"type":"content_block_stop","index":0}')
    end += _event(
        "message_delta",
        '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
        f'"usage":{{"input_tokens":12,"cache_creation_input_tokens":0,'
        f'"cache_read_input_tokens":0,"output_tokens":{tokens}}}}}',
    )
    end += _event("message_stop", '{"type":"message_stop"}')
    return start, token, end


# -- Ollama -----------------------------------------------------------------------------

_OLLAMA_HEAD: Final = '{"model":"llama3.2","created_at":"2024-11-20T10:00:00.123456789Z",'


def _ollama(tokens: int) -> tuple[bytes, bytes, bytes]:
    token = (
        f'{_OLLAMA_HEAD}"message":{{"role":"assistant","content":"{TOKEN_TEXT}"}},"done":false}}\n'
    )
    end = (
        f'{_OLLAMA_HEAD}"message":{{"role":"assistant","content":""}},"done_reason":"stop",'
        '"done":true,"total_duration":1234567890,"load_duration":12345678,'
        f'"prompt_eval_count":12,"prompt_eval_duration":2345678,"eval_count":{tokens},'
        '"eval_duration":1034567890}\n'
    )
    return b"", token.encode(), end.encode()


# -- HTTP -------------------------------------------------------------------------------

Frames = Callable[[int, bytes], tuple[bytes, bytes, bytes]]
_ROUTES: Final[dict[bytes, tuple[bytes, Frames]]] = {
    b"/v1/chat/completions": (
        b"text/event-stream; charset=utf-8",
        lambda n, body: _openai(n, _INCLUDE_USAGE.search(body) is not None),
    ),
    b"/v1/messages": (b"text/event-stream; charset=utf-8", lambda n, body: _anthropic(n)),
    b"/api/chat": (b"application/x-ndjson", lambda n, body: _ollama(n)),
}
_ROUTES[b"/chat/completions"] = _ROUTES[b"/v1/chat/completions"]


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _read_body(reader: asyncio.StreamReader, headers: dict[bytes, bytes]) -> bytes:
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                return b"".join(parts)
            parts.append(data[:-2])
    length = int(headers.get(b"content-length", b"0"))
    return await reader.readexactly(length) if length else b""


async def _reply(writer: asyncio.StreamWriter, path: bytes, body: bytes) -> None:
    route = _ROUTES.get(path.split(b"?")[0])
    if route is None:
        message = b'{"error":{"message":"not found","type":"not_found_error"}}'
        writer.write(
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(message), message)
        )
        return
    media_type, frames = route
    found = _PACE.search(body)
    tokens, delay = (int(found[1]), float(found[2])) if found else (10, 0.0)
    start, token, end = frames(tokens, body)
    transport = writer.transport
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncache-control: no-cache\r\n"
        b"transfer-encoding: chunked\r\n\r\n" % media_type
    )
    if not delay:
        pieces = [head]
        pending = [start]
        size = len(start)
        for _ in range(tokens):
            pending.append(token)
            size += len(token)
            if size >= _WRITE:
                pieces.append(_chunk(b"".join(pending)))
                pending, size = [], 0
        pending.append(end)
        pieces.append(_chunk(b"".join(pending)) + b"0\r\n\r\n")
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
        return
    writer.write(head + (_chunk(start) if start else b""))
    framed = _chunk(token)
    for _ in range(tokens):
        await asyncio.sleep(delay)
        if transport.is_closing():
            return
        writer.write(framed)
    writer.write(_chunk(end) + b"0\r\n\r\n")
    await writer.drain()


async def _connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        while not writer.transport.is_closing():
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head[:-4].split(b"\r\n")
            method, path, _version = request_line.split(b" ", 2)
            headers = {}
            for line in lines:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            body = await _read_body(reader, headers)
            if method != b"POST":
                path = b"/"
            await _reply(writer, path, body)
            if headers.get(b"connection", b"").lower() == b"close":
                break
    writer.close()


async def _serve(port: int) -> None:
    server = await asyncio.start_server(_connection, "127.0.0.1", port, backlog=2048, limit=1 << 20)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    port = int(args[0])
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner, contextlib.suppress(KeyboardInterrupt):
        runner.run(_serve(port))


if __name__ == "__main__":
    main()
