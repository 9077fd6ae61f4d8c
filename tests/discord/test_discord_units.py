"""Unit tests of the Discord adapter's pure parts: limits, embeds, emoji, audiences, mentions."""

from __future__ import annotations

import re
from pathlib import Path

import discord
import pytest
from discord import app_commands

from bot.models import Answer, Citation, Timings
from bot.platforms.discord import formatting, limits
from bot.platforms.discord.access import invite_url, required_intents, required_permissions
from bot.platforms.discord.audience import resolve_audience
from bot.platforms.discord.command_sync import tree_hash
from bot.platforms.discord.conversation import strip_bot_mentions, with_title
from bot.platforms.discord.feedback_ui import reaction_value

DOC = Path(__file__).resolve().parents[2] / "docs" / "discord.md"


def citation(
    n: int,
    *,
    title: str = "Handbook",
    uri: str = "https://docs.example/h",
    snippet: str = "Some text.",
    page: int | None = None,
) -> Citation:
    return Citation(
        n,
        f"c{n}",
        f"d{n}",
        title,
        uri,
        snippet,
        1.0 / n,
        page=page,
        section=None if page else f"Part {n}",
    )


def answer(
    text: str,
    cites: tuple[Citation, ...] = (),
    *,
    abstained: bool = False,
    uncited: bool = False,
    notice: str | None = None,
) -> Answer:
    return Answer(
        question="q",
        text=text,
        citations=cites,
        abstained=abstained,
        confidence=0.5,
        generator="extractive",
        audience="public",
        timings=Timings(),
        uncited=uncited,
        notice=notice,
    )


# -- limits.fit ---------------------------------------------------------------------------------
def test_fit_keeps_short_text_and_cuts_long_text_at_a_word() -> None:
    assert limits.fit("exactly ten", 11) == "exactly ten"
    assert limits.fit("alpha beta gamma delta", 14) == "alpha beta…"
    assert limits.fit("one two three\n\nfour five six seven", 22) == "one two three…"  # ¶ first
    assert limits.fit("x" * 50, 10) == "x" * 9 + "…"  # a single long word is cut hard
    with pytest.raises(ValueError):
        limits.fit("abc", 1)


@pytest.mark.parametrize("limit", [2, 7, 100, 1024, 2000])
def test_fit_never_exceeds_the_limit(limit: int) -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    assert len(limits.fit(text, limit)) <= limit


# -- embeds -------------------------------------------------------------------------------------
def test_small_answer_lists_every_source_in_order_with_links() -> None:
    cites = (citation(1, title="Guide", page=3), citation(2, title="FAQ"))
    embed = formatting.answer_embed(answer("Do this [1] and that [2].", cites), human_contact="x")
    assert embed.description == "Do this [1] and that [2]."
    assert embed.colour == formatting.ANSWER_COLOUR and embed.title is None
    (field,) = embed.fields
    assert field.name == "Sources"
    assert field.value == (
        "**[1]** [Guide, p. 3](https://docs.example/h)\n> Some text.\n"
        "**[2]** [FAQ, Part 2](https://docs.example/h)\n> Some text."
    )
    assert embed.footer.text == formatting.FEEDBACK_HINT


def test_sources_escape_markdown_and_do_not_link_local_files() -> None:
    cite = citation(1, title="Q&A *draft* [v2]", uri="file:///srv/docs/qa.md", snippet="a_b *c*")
    embed = formatting.answer_embed(answer("See [1].", (cite,)), human_contact="x")
    value = embed.fields[0].value or ""
    assert value.startswith(r"**[1]** Q&A \*draft\* (v2), Part 1")
    assert "file://" not in value and r"> a\_b \*c\*" in value


def test_huge_answer_fits_every_discord_limit() -> None:
    cites = tuple(
        citation(
            n, title="T" * 300, uri=f"https://docs.example/{'p' * 200}/{n}", snippet="s " * 900
        )
        for n in range(1, 21)
    )
    notice = "N" * 5000
    embed = formatting.answer_embed(answer("word " * 3000, cites, notice=notice), human_contact="x")
    assert len(embed) <= limits.EMBED_TOTAL
    assert len(embed.description or "") <= limits.EMBED_DESCRIPTION
    assert (embed.description or "").endswith("…")
    assert len(embed.footer.text or "") <= limits.EMBED_FOOTER
    assert (embed.footer.text or "").endswith("…\n" + formatting.FEEDBACK_HINT)
    assert len(embed.fields) <= limits.EMBED_FIELDS
    for field in embed.fields:
        assert len(field.name or "") <= limits.EMBED_FIELD_NAME
        assert 0 < len(field.value or "") <= limits.EMBED_FIELD_VALUE
    shown = [
        int(n)
        for n in re.findall(r"\*\*\[(\d+)\]\*\*", "\n".join(f.value or "" for f in embed.fields))
    ]
    assert shown == list(range(1, len(shown) + 1)) and 0 < len(shown) < 20
    assert (embed.fields[-1].value or "").endswith(f"…and {20 - len(shown)} more")


def test_many_small_sources_fill_several_fields() -> None:
    cites = tuple(citation(n, snippet="w " * 60) for n in range(1, 21))
    embed = formatting.answer_embed(answer("A [1].", cites), human_contact="x")
    assert len(embed) <= limits.EMBED_TOTAL
    assert [f.name for f in embed.fields][:2] == ["Sources", "Sources (continued)"]
    text = "\n".join(f.value or "" for f in embed.fields)
    assert text.count("**[") == 20 and "more" not in text


def test_abstention_looks_different_and_shows_the_contact() -> None:
    embed = formatting.answer_embed(
        answer("I could not find this.", abstained=True), human_contact="#help-hr"
    )
    assert embed.title == formatting.ABSTAIN_TITLE
    assert embed.colour == formatting.ABSTAIN_COLOUR != formatting.ANSWER_COLOUR
    assert [(f.name, f.value) for f in embed.fields] == [(formatting.HUMAN_FIELD, "#help-hr")]


def test_caveats_go_to_the_footer() -> None:
    embed = formatting.answer_embed(answer("No markers here.", uncited=True), human_contact="x")
    assert (embed.footer.text or "").startswith("This answer cites no source")


def test_plain_text_fits_one_message() -> None:
    assert len(formatting.plain_text("error " * 1000)) <= limits.MESSAGE_CONTENT


# -- emoji, audiences, mentions -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "emoji_id", "value"),
    [
        ("👍", None, 1),
        ("👍🏿", None, 1),
        ("👎", None, -1),
        ("👎🏻", None, -1),
        ("👍\ufe0f", None, 1),
        ("🎉", None, None),
        ("thumbsup", 123456789012345678, None),
    ],
)
def test_reaction_values(name: str, emoji_id: int | None, value: int | None) -> None:
    assert reaction_value(discord.PartialEmoji(name=name, id=emoji_id)) == value


def test_audience_most_specific_id_wins() -> None:
    mapping = {"1": "internal", "2": "public", "9": "internal"}
    assert resolve_audience(mapping, "public", channel_id=5, guild_id=9) == "internal"  # guild
    assert resolve_audience(mapping, "public", channel_id=2, guild_id=9) == "public"  # channel
    assert resolve_audience(mapping, "public", channel_id=7, parent_id=1, guild_id=8) == "internal"
    assert resolve_audience(mapping, "internal", channel_id=7, guild_id=None) == "internal"
    assert resolve_audience({}, "public", channel_id=None) == "public"


def test_strip_bot_mentions_keeps_other_mentions() -> None:
    text = "<@42> hi <@!42>  there <@7>\n<@&5> <@&6> ?"
    assert strip_bot_mentions(text, 42, bot_role_id=5) == "hi there <@7>\n<@&6> ?"
    assert with_title("Refunds", "How do refunds work?") == "Refunds\nHow do refunds work?"
    assert with_title("How do", "how do refunds work?") == "how do refunds work?"
    assert with_title(None, "body") == "body" and with_title("Title", "") == "Title"


# -- invite, intents, docs ------------------------------------------------------------------------
def test_invite_url_and_docs_agree() -> None:
    perms = required_permissions()
    assert perms.embed_links and perms.send_messages_in_threads and perms.read_message_history
    assert not perms.administrator and not perms.manage_messages
    url = invite_url(123456789012345678)
    assert url == (
        "https://discord.com/oauth2/authorize?client_id=123456789012345678"
        f"&scope=bot+applications.commands&permissions={perms.value}"
    )
    doc = DOC.read_text(encoding="utf-8")
    assert f"permissions={perms.value}" in doc
    intents = required_intents()
    assert intents.message_content and intents.guild_reactions and not intents.members
    for name in ("Message Content", "Server Members"):
        assert name in doc


def test_command_tree_hash_changes_only_with_the_commands() -> None:
    def tree_with(description: str) -> app_commands.CommandTree[discord.Client]:
        tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))

        @app_commands.command(name="ask", description=description)
        async def ask(interaction: discord.Interaction, question: str) -> None:
            """Ask."""

        tree.add_command(ask)
        return tree

    first = tree_hash(tree_with("Ask a question"))
    assert first == tree_hash(tree_with("Ask a question"))  # stable across processes
    assert first != tree_hash(tree_with("Ask something"))
    assert re.fullmatch(r"[0-9a-f]{64}", first)
