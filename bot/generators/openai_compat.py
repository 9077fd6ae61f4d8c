"""Generator for any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama,
llama.cpp server): ``POST {base_url}/chat/completions`` with the few-shot prompt.

Generation is bounded: every request sends ``max_tokens`` (and stop sequences when configured),
the timeout covers the whole request (connecting, waiting and reading the body; an
``asyncio`` deadline, since httpx's timeouts apply to each network operation separately), and a
reply that loops (the same sentence again and again, seen from a small model asked for a list)
is cut where it starts repeating. Fast failures (connection errors, HTTP 429 and 5xx) are
retried with exponential back-off (tenacity); a timeout is not, since retrying a server that is
too slow only queues more work behind it: the engine falls back to the extractive answer at
once. Anything else, or the last failure, raises :class:`GeneratorError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from bot.generators.base import (
    DEFAULT_MAX_TOKENS,
    Generation,
    GeneratorError,
    SourceOrder,
    SourceText,
)
from bot.models import Turn
from bot.prompt import FewShotExample, build_messages

log = logging.getLogger(__name__)

OnText = Callable[[str], Awaitable[None]]
"""Called with the whole answer text so far while an answer streams."""

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


MAX_REPEATS = 1  # a sentence may occur this many times more before the reply is cut there
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in RETRYABLE_STATUS
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return False  # a slow server: retrying only queues more work behind it
    return isinstance(exc, httpx.TransportError)  # refused connections, resets


Reply = tuple[str, str | None, dict[str, Any], str | None]
"""``(content, model, usage, finish_reason)`` of one completion."""


def _parse_completion(response: httpx.Response) -> Reply:
    """``(content, model, usage, finish_reason)`` of a non-streamed chat completion."""
    try:
        data = response.json()
        choice = data["choices"][0]
        text = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise GeneratorError("LLM endpoint sent a malformed chat completion") from exc
    if not isinstance(text, str):
        raise GeneratorError("LLM endpoint sent a malformed chat completion")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    model = data.get("model") if isinstance(data.get("model"), str) else None
    finish = choice.get("finish_reason") if isinstance(choice, dict) else None
    return text, model, usage, finish if isinstance(finish, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# The end of a sentence (its markers and closing quotes included) or of a line.
_SENTENCE_END = re.compile(r"[.!?](?:\s*\[\d+(?:\s*,\s*\d+)*\])*[\"'”’)\]]*(?=\s|$)|\n")


def drop_unfinished(text: str) -> str:
    """``text`` without its last, unfinished sentence: what a reply stopped by ``max_tokens``
    ends with ("… or an appeal to the state insuranc"). Cut after the last full sentence (with
    its markers) or line; a reply of one unfinished sentence is kept, ending in "…"."""
    text = text.rstrip()
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if ends and ends[-1] == len(text):
        return text
    if not ends or not text[: ends[-1]].strip():
        return text + "…"
    return text[: ends[-1]].rstrip()


def cut_repetition(text: str, max_repeats: int = MAX_REPEATS) -> tuple[str, bool]:
    """Cut a reply where it starts looping: at the first sentence (or line) seen more than
    ``max_repeats`` times before, case and spacing aside. Returns ``(text, was_cut)``."""
    seen: dict[str, int] = {}
    pos = 0
    for m in _SENTENCE.finditer(text + "\n"):
        piece = text[pos : m.start()]
        key = " ".join(piece.lower().split())
        if key:
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > max_repeats + 1:
                return text[:pos].rstrip(), True
        pos = m.end()
    return text, False


class OpenAICompatibleGenerator:
    """Chat-completions client.

    Args:
        base_url: e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:11434/v1``.
        model: model name sent in the request.
        api_key: sent as ``Authorization: Bearer``; optional for local servers.
        timeout_s: per-attempt timeout in seconds.
        max_retries: retries after the first attempt.
        examples: few-shot examples for the prompt.
        human_contact: who the prompt tells people to ask when the sources do not cover it.
        max_tokens: the most tokens the model may generate (sent as ``max_tokens``).
        stop: stop sequences sent with the request (none by default).
        stream: request a streamed reply even with no ``on_text`` (default): a reply that
            loops is then stopped as it starts looping, and a request given up at the
            deadline stops the server's work, instead of running to ``max_tokens`` and
            delaying the next question on a single-threaded server.
        source_order: ``best_first`` or ``best_last``: where the best source stands in the
            prompt (:func:`bot.prompt.format_sources`; numbers stay by rank).
    """

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        temperature: float = 0.0,
        examples: Sequence[FewShotExample] = (),
        human_contact: str = "a member of the support team",
        max_tokens: int = DEFAULT_MAX_TOKENS,
        stop: Sequence[str] = (),
        stream: bool = True,
        source_order: SourceOrder = "best_first",
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeout_s
        )
        self.model = model
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self.stop = list(stop)
        self.stream = stream
        self.max_retries = max_retries
        self.temperature = temperature
        self.examples = list(examples)
        self.human_contact = human_contact
        self.source_order: SourceOrder = source_order

    async def generate(
        self,
        question: str,
        sources: Sequence[SourceText],
        history: Sequence[Turn] = (),
        *,
        on_text: OnText | None = None,
        examples: Sequence[FewShotExample] | None = None,
    ) -> Generation:
        """Ask the endpoint; ``[n]`` in the reply refer to ``sources``' numbers.

        ``examples`` replace the curated few-shot examples for this request (the engine's
        dynamic few-shot from verified answers); ``None`` uses the curated ones.

        With ``on_text``, the request streams (``"stream": true``, server-sent events) and
        ``on_text`` is awaited with the whole text so far after each chunk that adds to it; a
        reply that starts repeating itself stops streaming there. The deadline still covers the
        whole request.

        Raises:
            GeneratorError: after the retries, or on a non-retryable error or malformed reply.
        """
        messages = build_messages(
            question,
            [(s.label, s.text) for s in sources],
            examples=self.examples if examples is None else examples,
            history=history,
            human_contact=self.human_contact,
            source_order=self.source_order,
        )
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.stop:
            body["stop"] = self.stop
        streaming = self.stream or on_text is not None
        if streaming:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.max_retries + 1),
                wait=wait_exponential(multiplier=0.5, max=8),
                retry=retry_if_exception(_retryable),
                reraise=True,
            ):
                with attempt:
                    # The deadline covers the whole attempt, the body's last byte included.
                    async with asyncio.timeout(self.timeout_s):
                        if not streaming:
                            response = await self._client.post("chat/completions", json=body)
                            response.raise_for_status()
                            reply = _parse_completion(response)
                        else:
                            reply = await self._stream(body, on_text)
        except httpx.HTTPStatusError as exc:
            raise GeneratorError(f"LLM endpoint answered HTTP {exc.response.status_code}") from exc
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise GeneratorError("LLM endpoint timed out") from exc
        except httpx.TransportError as exc:
            raise GeneratorError(f"LLM endpoint unreachable ({type(exc).__name__})") from exc
        text, model, usage, finish = reply
        if not text.strip():
            raise GeneratorError("LLM endpoint sent an empty answer")
        text, cut = cut_repetition(text.strip())
        if finish == "length" and not cut:
            # Stopped by max_tokens mid-sentence: end at the last full sentence.
            text, cut = drop_unfinished(text), True
        return Generation(
            text,
            f"{self.name}:{self.model}",
            model=model or self.model,
            tokens_in=_int(usage.get("prompt_tokens")),
            tokens_out=_int(usage.get("completion_tokens")),
            cut=cut,
        )

    async def warm_up(self) -> bool:
        """Send the prompt's constant part (instructions and curated examples) once, asking for
        one token, so that a server that caches prompt prefixes (llama.cpp, vLLM) has read it
        before the first question: on a 2-core CPU that part took about 13 s to read the first
        time and nothing after. Errors are logged, not raised (the first real question then
        pays the cost). Returns whether the endpoint answered."""
        messages = build_messages(
            "Hello", [], examples=self.examples, human_contact=self.human_contact
        )
        body = {"model": self.model, "messages": messages, "max_tokens": 1, "temperature": 0}
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self._client.post("chat/completions", json=body)
                response.raise_for_status()
        except (httpx.HTTPError, TimeoutError) as exc:
            log.warning("LLM warm-up failed (%s)", exc or type(exc).__name__)
            return False
        return True

    async def _stream(self, body: dict[str, Any], on_text: OnText | None) -> Reply:
        """POST with ``stream: true`` and read the server-sent events (OpenAI's streaming
        format: ``data: {chunk}`` lines, ``data: [DONE]`` at the end). Leaving early (a loop
        detected, the deadline) closes the connection, which makes llama.cpp, vLLM and Ollama
        stop generating instead of finishing a reply nobody reads."""
        parts: list[str] = []
        model: str | None = None
        usage: dict[str, Any] = {}
        finish: str | None = None
        chunks = 0
        async with self._client.stream("POST", "chat/completions", json=body) as response:
            if response.status_code >= 400:
                await response.aread()
                response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                except ValueError as exc:
                    raise GeneratorError("LLM endpoint sent a malformed stream event") from exc
                if not isinstance(chunk, dict):
                    raise GeneratorError("LLM endpoint sent a malformed stream event")
                model = chunk.get("model") or model
                if isinstance(chunk.get("usage"), dict):
                    usage = chunk["usage"]
                delta = ""
                for choice in chunk.get("choices") or []:
                    if isinstance(choice.get("finish_reason"), str):
                        finish = choice["finish_reason"]
                    piece = (choice.get("delta") or {}).get("content")
                    if isinstance(piece, str):
                        delta += piece
                if not delta:
                    continue
                chunks += 1
                parts.append(delta)
                text = "".join(parts)
                if delta.endswith(("\n", ".", "!", "?")) and cut_repetition(text)[1]:
                    break  # the model is looping: stop reading (the reply is cut at the end)
                if on_text is not None:
                    await on_text(text)
        if "completion_tokens" not in usage:
            # No usage chunk (llama-cpp-python sends none): llama.cpp, vLLM and Ollama stream
            # one token per chunk, so the chunks are the completion's tokens.
            usage = {**usage, "completion_tokens": chunks}
        return "".join(parts), model, usage, finish

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()
