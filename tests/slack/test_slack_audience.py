"""End to end: each channel gets its audience, and a public channel never sees internal sources.

Uses the real engine's audience filtering: the same internal-only question is asked in a public
and in an internal channel.
"""

from __future__ import annotations

import pytest
from slack_harness import (
    INTERNAL_QUESTION,
    INTERNAL_TITLE,
    MakeHarness,
    all_text,
    stored_answer_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

AUDIENCES = {"C0PUBLIC": "public", "C0STAFF": "internal", "C0PARTNER": "internal"}


async def test_public_channel_never_gets_an_internal_source(make_harness: MakeHarness) -> None:
    h = await make_harness("socket", slack_audiences=AUDIENCES)

    staff_q = await h.user_says("C0STAFF", INTERNAL_QUESTION)
    staff_post = await h.answer_in_thread("C0STAFF", staff_q)
    public_q = await h.user_says("C0PUBLIC", INTERNAL_QUESTION)
    public_post = await h.answer_in_thread("C0PUBLIC", public_q)

    # In the internal channel the internal document is the source, so the question does reach
    # internal material...
    staff = await stored_answer_for(h, "C0STAFF", staff_post.result["ts"])
    assert staff.audience == "internal"
    assert any(c["audience"] == "internal" for c in staff.citations)
    assert INTERNAL_TITLE in all_text(staff_post)
    # ...and in the public channel none of it shows.
    public = await stored_answer_for(h, "C0PUBLIC", public_post.result["ts"])
    assert public.audience == "public"
    assert all(c["audience"] == "public" for c in public.citations)
    assert all(r.get("doc_id") not in _internal_docs(staff.citations) for r in public.retrieved)
    assert INTERNAL_TITLE not in all_text(public_post)
    assert [c.audience for c in h.engine.calls] == ["internal", "public"]


def _internal_docs(citations: list[dict[str, object]]) -> set[object]:
    return {c["doc_id"] for c in citations if c["audience"] == "internal"}


async def test_audience_of_unlisted_shared_and_unknown_channels(make_harness: MakeHarness) -> None:
    h = await make_harness("http", slack_audiences=AUDIENCES, slack_default_audience="internal")
    h.fake.add_channel("C0CONNECT", is_ext_shared=True, is_shared=True)  # Slack Connect
    h.fake.add_channel("C0PENDING", is_pending_ext_shared=True)
    h.fake.add_channel("C0PARTNER", is_ext_shared=True)  # listed as internal on purpose
    h.fake.not_a_member.add("C0SECRET")  # conversations.info fails: channel_not_found

    cases = {
        "C0GENERAL": "internal",  # unlisted, not shared: the configured default
        "C0CONNECT": "public",  # Slack Connect defaults to public
        "C0PENDING": "public",  # being shared with another organisation
        "C0PARTNER": "internal",  # explicit configuration wins
        "C0SECRET": "public",  # cannot tell: fail closed
    }
    for channel in cases:
        question = await h.user_says(channel, INTERNAL_QUESTION)
        await h.answer_in_thread(channel, question)

    assert [c.audience for c in h.engine.calls] == list(cases.values())


async def test_event_flags_mark_external_conversations_public(make_harness: MakeHarness) -> None:
    h = await make_harness("socket", slack_default_audience="internal")
    # The envelope says the channel is externally shared (conversations.info does not know yet).
    q1 = await h.user_says("C0NEWSHARE", INTERNAL_QUESTION, ext_shared=True)
    await h.answer_in_thread("C0NEWSHARE", q1)
    # A person from another organisation writes in a DM.
    dm = h.fake.post_user_message("D0GUEST", INTERNAL_QUESTION, user="U0GUEST")
    dm.update(user_team="T0OTHERORG", channel_type="im")
    await h.deliver_event(dm)
    await h.answer_in_thread("D0GUEST", dm)
    # An ordinary DM from a colleague gets the default.
    q3 = await h.user_says("D0ALICE", INTERNAL_QUESTION, dm=True)
    await h.answer_in_thread("D0ALICE", q3)

    assert [c.audience for c in h.engine.calls] == ["public", "public", "internal"]
