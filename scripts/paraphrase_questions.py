"""Paraphrases of the labelled questions, for the feedback protocol's ``--paraphrases`` step.

The feedback protocol's exact repeats show that a verified answer comes back for the same
words; a user who asks again in other words is the case that matters. This writes, for each
dataset's answerable questions, one rewording made by a chat model behind any
OpenAI-compatible ``/chat/completions`` endpoint (e.g. ``bash scripts/local_llm.sh start``),
at temperature 0, as JSON lines ``{"question": ..., "paraphrase": ...}`` in
``OUT/<dataset label>.jsonl``. Questions already in the file are skipped, so an interrupted run
resumes. A rewording that comes back empty, identical to the question (case and spacing aside)
or longer than ``3 ×`` the question is dropped and counted, never written.

A BENCHMARK TOOL: the rewordings are a model's, not a person's; read a sample before you trust a
figure made with them.

Usage: ``.venv/bin/python scripts/paraphrase_questions.py --base-url http://127.0.0.1:8088/v1
--model qwen2.5-coder-1.5b-instruct-q4_k_m [--datasets samples/devsets.toml]
[--out data/paraphrases]``
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import httpx
from rich.progress import Progress

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.evaluation.dataset import load_questions  # noqa: E402
from bot.evaluation.runner import load_dataset_file  # noqa: E402

PROMPT = (
    "Rewrite the question below the way another person might ask it: use different words "
    "and sentence structure, keep its meaning, and keep every name, product and number. "
    "Reply with the rewritten question only.\n\nQuestion: {question}"
)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def clean(question: str, reply: str) -> str | None:
    """The rewording in ``reply``, or ``None`` when it is unusable (empty, the question itself,
    or over three times its length). Strips a leading "Question:" label and wrapping quotes."""
    text = reply.strip().splitlines()[0].strip() if reply.strip() else ""
    text = re.sub(r"^(rewritten question|question)\s*:\s*", "", text, flags=re.I).strip()
    text = text.strip("\"'“”").strip()
    if not text or _norm(text) == _norm(question) or len(text) > 3 * len(question):
        return None
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", required=True, help="OpenAI-compatible API root (…/v1)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--api-key", default="none")
    parser.add_argument("--datasets", type=Path, default=REPO / "samples" / "devsets.toml")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "paraphrases")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    client = httpx.Client(
        base_url=args.base_url.rstrip("/"),
        headers={"Authorization": f"Bearer {args.api_key}"},
        timeout=args.timeout,
    )
    for ds in load_dataset_file(args.datasets):
        questions = [q.question for p in ds.questions for q in load_questions(p) if q.answerable]
        path = args.out / f"{ds.label}.jsonl"
        done = set()
        if path.exists():
            done = {json.loads(line)["question"] for line in path.read_text().splitlines() if line}
        todo = [q for q in dict.fromkeys(questions) if q not in done]
        dropped = 0
        with path.open("a", encoding="utf-8") as out, Progress() as progress:
            task = progress.add_task(f"{ds.label}: paraphrasing", total=len(todo))
            for question in todo:
                resp = client.post(
                    "/chat/completions",
                    json={
                        "model": args.model,
                        "messages": [{"role": "user", "content": PROMPT.format(question=question)}],
                        "temperature": 0,
                        "max_tokens": 120,
                    },
                )
                resp.raise_for_status()
                reply = resp.json()["choices"][0]["message"]["content"] or ""
                text = clean(question, reply)
                if text is None:
                    dropped += 1
                else:
                    out.write(json.dumps({"question": question, "paraphrase": text}) + "\n")
                    out.flush()
                progress.advance(task)
        print(f"{ds.label}: {len(todo) - dropped} written, {dropped} dropped -> {path}")


if __name__ == "__main__":
    main()
