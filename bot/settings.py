"""All settings of the bot: the knowledge settings plus generation, abstention and storage.

Sources and priority are described in :mod:`knowledge.settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator

from bot.generators.base import DEFAULT_MAX_TOKENS, SourceOrder
from bot.ratelimit import parse_limit
from knowledge.settings import Audience, KnowledgeSettings

BUNDLED_FEW_SHOT = Path(__file__).with_name("few_shot_examples.toml")


class Settings(KnowledgeSettings):
    """Everything configurable; every field can be set as ``SUPPORTBOT_<FIELD>``."""

    generator: Literal["extractive", "openai"] = Field(
        default="extractive",
        description="extractive (no model, no key) or openai (any OpenAI-compatible endpoint).",
    )
    openai_base_url: str = Field(
        default="http://127.0.0.1:11434/v1",
        validation_alias=AliasChoices(
            "SUPPORTBOT_OPENAI_BASE_URL", "OPENAI_BASE_URL", "openai_base_url"
        ),
    )
    openai_model: str = Field(default="gpt-4o-mini")
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "SUPPORTBOT_OPENAI_API_KEY", "OPENAI_API_KEY", "openai_api_key"
        ),
    )
    llm_timeout_s: float = Field(
        default=30.0, gt=0, description="Timeout of a whole LLM request, seconds."
    )
    llm_max_retries: int = Field(default=2, ge=0, description="Retries after the first attempt.")
    llm_temperature: float = Field(default=0.0, ge=0, le=2)
    llm_max_tokens: int = Field(
        default=DEFAULT_MAX_TOKENS,
        ge=16,
        description="Most tokens an LLM answer may have (sent as max_tokens; about 120 words); "
        "a reply stopped there ends at its last full sentence.",
    )
    llm_stream: bool = Field(
        default=True,
        description="Stream LLM replies (loops stopped early, abandoned requests stop the "
        "server's work); false for an endpoint that cannot stream.",
    )
    llm_stop: list[str] = Field(
        default_factory=list, description="Stop sequences sent to the LLM endpoint."
    )
    grounding: Literal["remove", "mark", "off"] = Field(
        default="remove",
        description="Check each sentence of an LLM answer against its sources (bot.grounding): "
        "remove unsupported sentences, mark (keep them uncited, flag the answer), or off.",
    )
    grounding_max_unsupported: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="An LLM answer more than this share of whose factual words no source "
        "supports is replaced by the quoted sources (marked), as one with nothing supported "
        "always is; 1 = only then. 0.5: what is left of a mostly unsupported answer is the "
        "remains of a confused one (README, Measured).",
    )
    top_k: int = Field(default=5, ge=1, le=20, description="Sources given to the generator.")
    llm_top_k: int | None = Field(
        default=3,
        ge=1,
        le=20,
        description="Sources given to an LLM generator (the first of the top_k); unset = top_k. "
        "3 by measurement: on a CPU, prompt reading dominates latency (README, Measured).",
    )
    llm_source_order: SourceOrder = Field(
        default="best_last",
        description="Where the best source stands in an LLM's prompt: last, right above the "
        "question (measured better with a small local model: README, Measured), or first; "
        "numbers stay by rank ([1] = best) either way.",
    )
    llm_named_sources: bool = Field(
        default=False,
        description="Give an LLM only the sources that name what the best source names of the "
        "question (a plan, product or version: bot.grounding.named_sources), so that a "
        "near-duplicate page on another one does not reach the prompt. Off: with a 1.5B local "
        "model it fixed one plan mix-up and cost two other answers their gold citation "
        "(README, Measured).",
    )
    llm_source_words: int | None = Field(
        default=None,
        ge=10,
        description="Cut each source an LLM reads to its sentences nearest the question, at "
        "most this many words (bot.compression); unset = whole chunks.",
    )
    abstain_threshold: float | None = Field(
        default=None,
        description="Minimum support (question-sentence cosine) to answer; unset = the "
        "collection's own calibration (knowledge.calibration).",
    )
    abstain_threshold_unknown_terms: float | None = Field(
        default=None,
        description="Minimum support when the question has a word no document contains; "
        "unset = calibrated.",
    )
    memory_enabled: bool = Field(
        default=True,
        description="Serve verified answers again to the same question (bot.memory).",
    )
    memory_threshold: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="Cosine similarity of question embeddings needed to serve a verified "
        "answer (scripts/memory_threshold.py measured where distinct questions stop).",
    )
    memory_min_up_votes: int = Field(
        default=0,
        ge=0,
        description="Also verify an answer when this many distinct people voted 👍 and none 👎 "
        "(0 = only a lead verifies).",
    )
    memory_few_shot: bool = Field(
        default=False,
        description="With the LLM generator, use the verified answers nearest the question as "
        "its few-shot examples (the curated ones fill up). Off: with a 1.5B local model it cost "
        "Galaxy S10 0.09 F1 and Contoso gained nothing beyond noise, and prompts grew 2-4x "
        "(README, Answer memory).",
    )
    feedback_boost: float = Field(
        default=0.25,
        ge=0,
        description="Feedback-aware retrieval: how far votes and a lead's decisions on similar "
        "past questions move retrieved chunks, as a share of the hit list's score range "
        "(bot.memory.FeedbackLinks); 0 = off. 0.25 by the feedback protocol: it lifted the "
        "citation hit of questions asked again in other words and left unseen ones unchanged "
        "within noise; 1.0 hurt unseen questions (README, Answer memory).",
    )
    feedback_min_similarity: float = Field(
        default=0.85,
        gt=0,
        le=1,
        description="Past questions at least this cosine-similar to the question lend it "
        "their feedback (feedback_boost).",
    )
    memory_refresh_s: float = Field(
        default=30.0,
        gt=0,
        description="How often a serving bot reloads verified answers from the database.",
    )
    statistics_refresh_s: float = Field(
        default=60.0,
        ge=0,
        description="With a Qdrant server: how often a serving bot checks whether another "
        "process (the sync worker) recalibrated the collection, and takes the new vocabulary "
        "and calibration; 0 = never.",
    )
    few_shot_path: Path = Field(
        default=BUNDLED_FEW_SHOT, description="TOML file of curated few-shot examples."
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SUPPORTBOT_DATABASE_URL", "DATABASE_URL", "database_url"),
        description="SQLAlchemy URL of the feedback store; unset = SQLite in data_dir.",
    )
    database_auto_upgrade: bool = Field(
        default=True,
        description="Create or upgrade the feedback store's schema when a command opens it; "
        "false = refuse an outdated schema and let 'supportbot db upgrade' do it (several "
        "replicas, one migration step per release).",
    )
    human_contact: str = Field(
        default="a member of the support team",
        description="Who abstentions point to, e.g. '#help-hr' or 'support@example.com'.",
    )
    max_question_chars: int = Field(
        default=4_000,
        ge=1,
        description="Longer messages get a polite refusal instead of an answer (a pasted log "
        "or a flood is not a question; the embedding model reads 256 tokens anyway).",
    )
    rate_limit_user: str | None = Field(
        default="8/minute",
        description="Questions one person may ask (the 'limits' notation: '8/minute', "
        "'100/hour'); past it they are asked to wait. Empty = no limit.",
    )
    rate_limit_channel: str | None = Field(
        default="60/minute",
        description="Questions one channel may ask; empty = no limit.",
    )

    @field_validator("rate_limit_user", "rate_limit_channel")
    @classmethod
    def _rate_limit(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            parse_limit(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit such as '8/minute': {value!r}") from exc
        return value

    # -- Sync and admin (knowledge.sync, bot.ops) --------------------------------------------
    sources_file: Path = Field(
        default=Path("sources.toml"),
        description="The sources file (knowledge.sources.config); 'serve' syncs each source on "
        "its schedule when the file exists.",
    )
    admin_socket: bool = Field(
        default=True,
        description="A running bot listens on data_dir/admin.sock (this user only) so "
        "'supportbot sync' can hand it work while it holds the embedded index.",
    )
    slack_admin_user_ids: list[str] = Field(
        default_factory=list,
        description="Slack user ids allowed /supportbot-sync and /supportbot-status.",
    )
    discord_admin_user_ids: list[str] = Field(
        default_factory=list,
        description="Discord user ids allowed /supportbot-sync and /supportbot-status.",
    )
    discord_admin_role_ids: list[str] = Field(
        default_factory=list,
        description="Discord role ids whose members are allowed the admin commands.",
    )

    # -- Review console (bot.review) ----------------------------------------------------------
    review_host: str = Field(
        default="127.0.0.1",
        description="Where 'supportbot review' listens; a non-loopback address needs users.",
    )
    review_port: int = Field(default=8765, description="Port of the review console.")
    review_secret_key: SecretStr | None = Field(
        default=None,
        description="Signs the console's session cookies; unset = a random key kept in "
        "data_dir/review_secret (mode 0600).",
    )
    review_gap_distance: float = Field(
        default=0.5,
        gt=0,
        lt=2,
        description="Cosine distance where knowledge-gap grouping stops merging (bot.review.gaps).",
    )
    review_mask_users: bool = Field(
        default=False, description="Show user ids as stable pseudonyms in the console and exports."
    )
    serve_review: bool = Field(
        default=False,
        description="'supportbot serve slack|discord' also hosts the review console (review_host, "
        "review_port) in its process, sharing its database and embedding model "
        "(the CLI's --with-review).",
    )

    # -- Operations: probes, metrics, logs (bot.health, bot.logs) -----------------------------
    health_host: str = Field(
        default="127.0.0.1",
        description="Where a serving bot answers /healthz, /readyz and /metrics (Socket Mode and "
        "Discord; Slack HTTP mode serves them on its own port). 0.0.0.0 in a container.",
    )
    health_port: int = Field(
        default=8081, ge=0, description="Port of /healthz, /readyz and /metrics (0 = off)."
    )
    log_format: Literal["console", "json"] = Field(
        default="console",
        description="console = readable lines; json = one JSON object per line (structlog), "
        "with a request id, for log collectors.",
    )
    log_level: str = Field(default="INFO", description="Log level of a serving bot.")
    log_message_text: bool = Field(
        default=False,
        description="Log the text of questions at INFO (personal data: off by default; at DEBUG "
        "it is always logged).",
    )

    # -- Slack (bot.platforms.slack) --------------------------------------------------------
    slack_mode: Literal["socket", "http"] = Field(
        default="socket", description="socket = Socket Mode (app token); http = Events API."
    )
    slack_bot_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "SUPPORTBOT_SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN", "slack_bot_token"
        ),
    )
    slack_app_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "SUPPORTBOT_SLACK_APP_TOKEN", "SLACK_APP_TOKEN", "slack_app_token"
        ),
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "SUPPORTBOT_SLACK_SIGNING_SECRET", "SLACK_SIGNING_SECRET", "slack_signing_secret"
        ),
    )
    slack_http_host: str = Field(default="0.0.0.0", description="Bind address in HTTP mode.")
    slack_http_port: int = Field(default=3000, description="Port in HTTP mode.")
    slack_api_url: str | None = Field(
        default=None, description="Slack Web API base URL override (tests, proxies)."
    )
    slack_default_audience: Audience = Field(
        default="internal", description="Audience of Slack channels not listed in slack_audiences."
    )
    slack_audiences: dict[str, Audience] = Field(
        default_factory=dict, description="Slack channel id -> audience."
    )

    # -- Discord (bot.platforms.discord) ------------------------------------------------------
    discord_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SUPPORTBOT_DISCORD_TOKEN", "DISCORD_TOKEN", "discord_token"),
    )
    discord_default_audience: Audience = Field(
        default="public", description="Audience of guilds/channels not in discord_audiences."
    )
    discord_audiences: dict[str, Audience] = Field(
        default_factory=dict, description="Discord channel or guild id -> audience (channel wins)."
    )
    discord_auto_answer_channels: list[str] = Field(
        default_factory=list,
        description="Forum or text channel ids whose new posts/threads are answered automatically.",
    )

    @property
    def review_users_path(self) -> Path:
        """The console's users and their argon2 password hashes (``supportbot review
        add-user``)."""
        return self.data_dir / "review_users.json"

    @property
    def admin_socket_path(self) -> Path:
        """The running bot's admin socket (a Unix socket, mode 0600)."""
        return self.data_dir / "admin.sock"

    @property
    def vote_outbox_path(self) -> Path:
        """Where votes wait while the feedback database is unavailable (:mod:`bot.outbox`)."""
        return self.data_dir / "vote-outbox.jsonl"

    @property
    def resolved_database_url(self) -> str:
        """The feedback-store URL, defaulting to ``sqlite:///<data_dir>/feedback.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'feedback.db').resolve()}"
