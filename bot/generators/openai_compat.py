"""Generator for any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama,
llama.cpp server): ``POST {base_url}/chat/completions`` with the few-shot prompt.

Transient failures (timeouts, connection errors, HTTP 429 and 5xx) are retried with exponential
back-off (tenacity); anything else, or the last failure, raises :class:`GeneratorError` so the
engine can fall back to the extractive answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from bot.generators.base import Generation, GeneratorError, SourceText
from bot.models import Turn
from bot.prompt import FewShotExample, build_messages

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in RETRYABLE_STATUS
    return isinstance(exc, httpx.TransportError)  # timeouts, refused connections, resets


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
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeout_s
        )
        self.model = model
        self.max_retries = max_retries
        self.temperature = temperature
        self.examples = list(examples)
        self.human_contact = human_contact

    async def generate(
        self, question: str, sources: Sequence[SourceText], history: Sequence[Turn] = ()
    ) -> Generation:
        """Ask the endpoint; ``[n]`` in the reply refer to ``sources``' numbers.

        Raises:
            GeneratorError: after the retries, or on a non-retryable error or malformed reply.
        """
        messages = build_messages(
            question,
            [(s.label, s.text) for s in sources],
            examples=self.examples,
            history=history,
            human_contact=self.human_contact,
        )
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
        }
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.max_retries + 1),
                wait=wait_exponential(multiplier=0.5, max=8),
                retry=retry_if_exception(_retryable),
                reraise=True,
            ):
                with attempt:
                    response = await self._client.post("chat/completions", json=body)
                    response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise GeneratorError(f"LLM endpoint answered HTTP {exc.response.status_code}") from exc
        except httpx.TimeoutException as exc:
            raise GeneratorError("LLM endpoint timed out") from exc
        except httpx.TransportError as exc:
            raise GeneratorError(f"LLM endpoint unreachable ({type(exc).__name__})") from exc
        try:
            text = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise GeneratorError("LLM endpoint sent a malformed chat completion") from exc
        if not isinstance(text, str) or not text.strip():
            raise GeneratorError("LLM endpoint sent an empty answer")
        return Generation(text.strip(), f"{self.name}:{self.model}")

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()
