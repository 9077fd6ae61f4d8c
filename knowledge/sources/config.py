"""The sources file (``sources.toml``): which sources to sync, how and how often.

One ``[[source]]`` table per source; see ``sources.example.toml`` and the README. A relative
``location`` of a folder is resolved against the sources file's own folder. Unknown keys are an
error (a typo must not silently turn a setting off).
"""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from knowledge.errors import KnowledgeError
from knowledge.limits import DocumentLimits

Kind = Literal["folder", "web", "llama-index"]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RESERVED_IDS = {"status"}  # ``supportbot sync status`` is the status command


class SourcesFileError(KnowledgeError):
    """The sources file is missing, not TOML, or has an invalid entry."""


def parse_duration(text: str | float | int | None) -> float | None:
    """``"30s"``, ``"15m"``, ``"2h"``, ``"1d"`` or a number of seconds → seconds; ``None``,
    ``""`` or ``"manual"`` → ``None`` (no schedule).

    Raises:
        ValueError: anything else.
    """
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "manual")):
        return None
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        m = _DURATION.match(text.lower())
        if not m:
            raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 2h, 1d or manual)")
        seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    if seconds <= 0:
        raise ValueError("a schedule must be a positive duration")
    return seconds


class SourceConfig(BaseModel):
    """One source (a ``[[source]]`` table).

    Common keys: ``id`` (letters, digits, ``._-``; the prefix of its document ids), ``kind``,
    ``location`` (a folder path, a ``sitemap.xml`` URL or a start URL), ``audience``
    (``public``/``internal``; default: the configured default), ``schedule`` (``15m``, ``1h``,
    …, or ``manual``), ``include``/``exclude`` (globs over the relative path or the URL path;
    ``**/`` matches any folder), ``base_url`` (what citations link to: ``base_url`` + relative
    path; default ``file://`` for folders, the page's own URL for the web).

    Limits per document (a document over one is skipped and reported): ``max_document_mb``
    (file size, and what a DOCX unpacks to; default 50), ``max_document_pages`` (PDF pages;
    2,000), ``max_document_s`` (seconds of PDF text extraction; 120).

    ``folder``: ``watch`` (re-sync within seconds of a change, with watchfiles).
    ``web``: ``max_depth`` (links followed from the start URL), ``max_pages``, ``delay_s``
    (pause after each request), ``concurrency`` (requests at once), ``timeout_s``,
    ``user_agent`` (also the robots.txt agent), ``allow_private_hosts`` (hosts that may be
    fetched although they are or resolve to private, loopback or link-local addresses, e.g. an
    intranet wiki; none by default).
    ``llama-index``: ``reader`` (import path of a llama-index reader class), ``args`` (its
    constructor's keyword arguments), ``load_args`` (``load_data``'s), ``id_key`` (metadata key
    of a document's stable id; default ``url``, ``file_path``, ``id``, else the reader's
    ``doc_id``), ``url_key`` and ``title_key`` (metadata keys of its link and title).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    kind: Kind
    location: str = ""
    audience: Literal["public", "internal"] | None = None
    schedule: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    base_url: str | None = None
    # folder
    watch: bool = False
    # limits per document (folder and web; see knowledge.documents.DocumentLimits)
    max_document_mb: float = Field(default=50.0, gt=0)
    max_document_pages: int = Field(default=2_000, ge=1)
    max_document_s: float = Field(default=120.0, gt=0)
    # web
    max_depth: int = Field(default=3, ge=0)
    max_pages: int = Field(default=500, ge=1)
    delay_s: float = Field(default=0.5, ge=0)
    concurrency: int = Field(default=2, ge=1, le=16)
    timeout_s: float = Field(default=20.0, gt=0)
    user_agent: str = "supportbot"
    allow_private_hosts: tuple[str, ...] = ()
    # llama-index
    reader: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    load_args: dict[str, Any] = Field(default_factory=dict)
    id_key: str | None = None
    url_key: str = "url"
    title_key: str = "title"
    # Ad-hoc sources of ``supportbot ingest PATH`` keep bare relative paths as document ids.
    prefix_ids: bool = True

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_IDS:
            raise ValueError(f"{value!r} is reserved (supportbot sync {value})")
        return value

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        parse_duration(value)
        return value

    @property
    def interval_s(self) -> float | None:
        """The schedule in seconds; ``None`` when the source syncs only on request."""
        return parse_duration(self.schedule)

    def doc_id(self, relative: str) -> str:
        """The document id of a relative path or URL path within this source: ``id/relative``
        (so two sources may hold the same relative path), or ``relative`` for ad-hoc ones."""
        return f"{self.id}/{relative}" if self.prefix_ids else relative

    @property
    def limits(self) -> DocumentLimits:
        """The per-document limits of this source."""
        return DocumentLimits(
            max_bytes=int(self.max_document_mb * 1024 * 1024),
            max_pages=self.max_document_pages,
            max_seconds=self.max_document_s,
        )

    def wants(self, relative: str) -> bool:
        """Whether ``include``/``exclude`` let ``relative`` in (all, when ``include`` is empty)."""
        if self.include and not any(_glob(relative, p) for p in self.include):
            return False
        return not any(_glob(relative, p) for p in self.exclude)


def _glob(path: str, pattern: str) -> bool:
    """``fnmatch`` over a POSIX path where ``*`` crosses folders and a leading ``**/`` also
    matches none."""
    path = path.lstrip("/")
    return fnmatchcase(path, pattern) or (
        pattern.startswith("**/") and fnmatchcase(path, pattern[3:])
    )


def load_sources(path: Path) -> list[SourceConfig]:
    """Read a sources file → its sources, in file order.

    Raises:
        SourcesFileError: missing file, invalid TOML, an invalid entry or a repeated id.
    """
    if not path.is_file():
        raise SourcesFileError(
            f"No sources file at {path}. Copy sources.example.toml to sources.toml and edit it, "
            "set SUPPORTBOT_SOURCES_FILE, or use 'supportbot ingest PATH' for a one-off folder."
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SourcesFileError(f"{path} is not valid TOML: {exc}") from None
    entries = raw.get("source", [])
    if not isinstance(entries, list):
        raise SourcesFileError(f"{path}: use [[source]] tables, one per source")
    out: list[SourceConfig] = []
    for n, entry in enumerate(entries, 1):
        try:
            config = SourceConfig.model_validate(entry)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in e['loc']) or 'entry'}: {e['msg']}" for e in exc.errors()
            )
            raise SourcesFileError(f"{path}, source #{n}: {problems}") from None
        if config.kind == "folder" and config.location:
            folder = Path(config.location).expanduser()
            if not folder.is_absolute():
                folder = (path.parent / folder).resolve()
            config = config.model_copy(update={"location": str(folder)})
        if config.kind != "llama-index" and not config.location:
            raise SourcesFileError(f"{path}, source {config.id!r}: 'location' is required")
        if config.kind == "llama-index" and not config.reader:
            raise SourcesFileError(f"{path}, source {config.id!r}: 'reader' is required")
        if any(c.id == config.id for c in out):
            raise SourcesFileError(f"{path}: source id {config.id!r} is used twice")
        out.append(config)
    return out


def schedule_label(seconds: float | None) -> str:
    """A schedule for people: ``every 15 min``, ``manual``."""
    if seconds is None:
        return "manual"
    return f"every {timedelta(seconds=round(seconds))}"
