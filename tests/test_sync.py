"""Sync (knowledge.sync, knowledge.sources): pruning, renames, safety, isolation, web, readers.

Every test runs the real engine (embedding model, Qdrant local mode) on a small folder of its
own; the web source runs against a local HTTP server started by the test.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.engine import SupportEngine
from knowledge.sources import make_source
from knowledge.sources.config import SourceConfig, SourcesFileError, load_sources
from tests.conftest import TESTS, make_settings

OFFICE = TESTS / "data" / "office"
PARK = "Where can employees park?"


def folder_source(sid: str, path: Path, **extra: object) -> SourceConfig:
    return SourceConfig(id=sid, kind="folder", location=str(path), **extra)  # type: ignore[arg-type]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[SupportEngine]:
    e = SupportEngine.from_settings(make_settings(tmp_path / "data"))
    yield e
    e.close()


def retrieved_docs(engine: SupportEngine, question: str, audience: str = "internal") -> list[str]:
    return [h.chunk.doc_id for h in engine.kb.retrieve(question, audience=audience).hits]


def test_deleted_file_is_no_longer_retrievable(tmp_path: Path, engine: SupportEngine) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("parking.md", "lunch.md", "leave.md"):
        shutil.copy(OFFICE / name, docs / name)
    first = engine.kb.ingest([docs], progress=False)
    assert first.documents == 3 and "parking.md" in retrieved_docs(engine, PARK)
    (docs / "parking.md").unlink()
    again = engine.kb.ingest([docs], progress=False)
    assert (again.documents, again.unchanged, again.removed) == (0, 2, 1)
    assert "parking.md" not in retrieved_docs(engine, PARK)
    answer = engine.kb.retrieve(PARK, audience="internal")
    assert all("parking" not in h.chunk.source_id for h in answer.hits)


def test_renamed_file_replaces_the_old_id(tmp_path: Path, engine: SupportEngine) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("parking.md", "lunch.md", "leave.md"):
        shutil.copy(OFFICE / name, docs / name)
    src = folder_source("office", docs)
    engine.kb.sync([make_source(src)], progress=False)
    (docs / "parking.md").rename(docs / "car-park.md")
    report = engine.kb.sync([make_source(src)], progress=False)
    (s,) = report.sources
    assert (s.added, s.removed, s.changed) == (["office/car-park.md"], ["office/parking.md"], [])
    assert set(engine.kb.index.documents("office")) == {
        "office/car-park.md",
        "office/lunch.md",
        "office/leave.md",
    }
    assert retrieved_docs(engine, PARK)[0] == "office/car-park.md"


def test_vanished_folder_deletes_nothing_and_reports(tmp_path: Path, engine: SupportEngine) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(OFFICE, docs)
    src = folder_source("office", docs)
    engine.kb.sync([make_source(src)], progress=False)
    before = engine.kb.index.count()
    shutil.rmtree(docs)
    report = engine.kb.sync([make_source(src)], progress=False)
    (s,) = report.sources
    assert s.error is not None and "does not exist" in s.error and s.removed == []
    assert report.errors == [s.error]
    assert engine.kb.index.count() == before
    assert retrieved_docs(engine, PARK)[0] == "office/parking.md"


def test_corrupt_replacement_keeps_the_old_version(tmp_path: Path, engine: SupportEngine) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(OFFICE / "parking.md", docs / "parking.md")
    shutil.copy(OFFICE / "lunch.md", docs / "lunch.md")
    (docs / "guide.txt").write_text("The office opens at 8 am and closes at 6 pm on weekdays.\n")
    src = folder_source("office", docs)
    engine.kb.sync([make_source(src)], progress=False)
    (docs / "guide.txt").write_bytes(b"\xff\xfe\x00broken \xc3\x28 bytes")  # not UTF-8 any more
    report = engine.kb.sync([make_source(src)], progress=False)
    (s,) = report.sources
    assert s.changed == [] and s.removed == [] and s.unchanged == 2
    assert len(s.skipped) == 1 and "not UTF-8" in s.skipped[0].reason
    assert "indexed version stays" in s.skipped[0].reason
    hits = engine.kb.retrieve("When does the office open?", audience="internal").hits
    assert hits[0].chunk.doc_id == "office/guide.txt" and "8 am" in hits[0].chunk.text


def test_two_sources_with_the_same_relative_path_do_not_collide(
    tmp_path: Path, engine: SupportEngine
) -> None:
    hr, it = tmp_path / "hr", tmp_path / "it"
    hr.mkdir()
    it.mkdir()
    (hr / "faq.md").write_text("# HR FAQ\n\nPayslips are published on the 25th of each month.\n")
    (it / "faq.md").write_text("# IT FAQ\n\nPasswords must be changed every 90 days.\n")
    a, b = folder_source("hr", hr), folder_source("it", it)
    engine.kb.sync([make_source(a), make_source(b)], progress=False)
    assert set(engine.kb.index.documents("hr")) == {"hr/faq.md"}
    assert set(engine.kb.index.documents("it")) == {"it/faq.md"}
    # Emptying one source's file list never touches the other's documents.
    (it / "faq.md").unlink()
    report = engine.kb.sync([make_source(b)], allow_mass_delete=True, progress=False)
    assert report.sources[0].removed == ["it/faq.md"]
    assert set(engine.kb.index.documents("hr")) == {"hr/faq.md"}
    hits = engine.kb.retrieve("When are payslips published?", audience="public").hits
    assert hits[0].chunk.doc_id == "hr/faq.md"


def test_mass_delete_guard(tmp_path: Path, engine: SupportEngine) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(OFFICE, docs)  # five documents
    src = folder_source("office", docs)
    engine.kb.sync([make_source(src)], progress=False)
    for name in ("parking.md", "lunch.md", "leave.md"):
        (docs / name).unlink()
    stopped = engine.kb.sync([make_source(src)], progress=False)
    (s,) = stopped.sources
    assert s.blocked is not None and "--allow-mass-delete" in s.blocked
    assert len(engine.kb.index.documents("office")) == 5  # nothing applied
    dry = engine.kb.sync([make_source(src)], allow_mass_delete=True, dry_run=True, progress=False)
    assert len(dry.sources[0].removed) == 3 and len(engine.kb.index.documents("office")) == 5
    applied = engine.kb.sync([make_source(src)], allow_mass_delete=True, progress=False)
    assert len(applied.sources[0].removed) == 3
    assert set(engine.kb.index.documents("office")) == {"office/laptops.md", "office/security.md"}


def test_unchanged_resync_embeds_nothing_and_one_change_embeds_one_file(
    tmp_path: Path, engine: SupportEngine
) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(OFFICE, docs)
    src = folder_source("office", docs)
    full = engine.kb.sync([make_source(src)], progress=False)
    assert full.embedded > 0
    same = engine.kb.sync([make_source(src)], progress=False)
    assert (same.embedded, same.sources[0].unchanged) == (0, 5)
    (docs / "lunch.md").write_text(
        (docs / "lunch.md").read_text() + "\nThe canteen serves breakfast from 7:30 am.\n"
    )
    one = engine.kb.sync([make_source(src)], progress=False)
    assert one.sources[0].changed == ["office/lunch.md"]
    lunch_chunks = [c for c in engine.kb.index.all_chunks() if c.doc_id == "office/lunch.md"]
    distinct = {s for c in lunch_chunks for s in c.sentences}
    assert one.embedded == len(lunch_chunks) + len(distinct)  # that file's texts, no others


def test_llama_index_reader_source(tmp_path: Path, engine: SupportEngine) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(OFFICE / "parking.md", docs / "parking.md")
    config = SourceConfig(
        id="wiki",
        kind="llama-index",
        reader="llama_index.core.SimpleDirectoryReader",
        args={"input_dir": str(docs)},
        base_url="https://wiki.example.com/pages",
    )
    report = engine.kb.sync([make_source(config)], progress=False)
    assert report.sources[0].added == ["wiki/parking.md"]
    hit = engine.kb.retrieve(PARK, audience="public").hits[0]
    assert hit.chunk.doc_id == "wiki/parking.md"
    assert hit.chunk.uri.startswith("https://wiki.example.com/pages/parking.md")
    again = engine.kb.sync([make_source(config)], progress=False)
    assert (again.sources[0].unchanged, again.embedded) == (1, 0)
    broken = config.model_copy(update={"reader": "llama_index.core.NoSuchReader"})
    failed = engine.kb.sync([make_source(broken)], progress=False)
    assert failed.sources[0].error is not None and failed.sources[0].removed == []


def test_sources_file_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(
        '[[source]]\nid = "docs"\nkind = "folder"\nlocation = "kb"\nschedule = "15m"\n'
        'include = ["**/*.md"]\n'
    )
    (config,) = load_sources(path)
    assert config.location == str((tmp_path / "kb").resolve()) and config.interval_s == 900
    assert config.wants("a/b.md") and config.wants("b.md") and not config.wants("b.pdf")
    path.write_text('[[source]]\nid = "docs"\nkind = "folder"\nlocation = "kb"\nschedul = "1h"\n')
    with pytest.raises(SourcesFileError, match="schedul"):
        load_sources(path)
    path.write_text('[[source]]\nid = "status"\nkind = "folder"\nlocation = "kb"\n')
    with pytest.raises(SourcesFileError, match="reserved"):
        load_sources(path)
    with pytest.raises(SourcesFileError, match="No sources file"):
        load_sources(tmp_path / "missing.toml")


# -- web ------------------------------------------------------------------------------------
LOCAL = ("127.0.0.1",)  # the test site's host: private, so it must be allowed explicitly
PAGE = """<!doctype html><html><head><title>{title}</title></head><body>
<nav>Home | Docs | Contact</nav><h1 id="top">{title}</h1><p>{body}</p>
{links}<footer>(c) Example Inc.</footer></body></html>"""


@dataclass
class Site:
    """What the local web server serves: path → (status, html), robots.txt, request log."""

    pages: dict[str, tuple[int, str]] = field(default_factory=dict)
    robots: str = "User-agent: *\nDisallow: /private/\n"
    redirects: dict[str, str] = field(default_factory=dict)  # path → Location (302)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, If-None-Match)

    def page(self, path: str, title: str, body: str, links: tuple[str, ...] = ()) -> None:
        html = "".join(f'<a href="{link}">{link}</a> ' for link in links)
        self.pages[path] = (200, PAGE.format(title=title, body=body, links=html))


@pytest.fixture
def site() -> Iterator[tuple[Site, str]]:
    state = Site()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            state.requests.append((self.path, self.headers.get("If-None-Match")))
            if self.path == "/robots.txt":
                self._send(200, state.robots, "text/plain")
                return
            if self.path in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path == "/sitemap.xml":
                base = f"http://{self.headers['Host']}"
                locs = "".join(f"<url><loc>{base}{p}</loc></url>" for p in sorted(state.pages))
                xml = (
                    '<?xml version="1.0"?><urlset '
                    f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>'
                )
                self._send(200, xml, "application/xml")
                return
            status, html = state.pages.get(self.path, (404, "not found"))
            etag = f'"{abs(hash(html))}"'
            if status == 200 and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self._send(status, html, "text/html; charset=utf-8", etag if status == 200 else None)

        def _send(self, status: int, text: str, ctype: str, etag: str | None = None) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            if etag:
                self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_web_sources_fetch_no_private_address_unless_allowed(
    site: tuple[Site, str], engine: SupportEngine
) -> None:
    state, url = site
    port = url.rsplit(":", 1)[1]
    state.page("/lunch.html", "Lunch", "The canteen serves lunch from noon to 2 pm.")
    # A listed page that redirects to the same server under another name, not allowed.
    state.redirects["/moved.html"] = f"http://localhost:{port}/secret.html"
    state.pages["/moved.html"] = (302, "")

    blocked = SourceConfig(id="site", kind="web", location=f"{url}/sitemap.xml", delay_s=0)
    (s,) = engine.kb.sync([make_source(blocked)], progress=False).sources
    assert s.error is not None and "non-public address (127.0.0.1)" in s.error
    assert state.requests == []  # refused before connecting

    allowed = blocked.model_copy(update={"allow_private_hosts": LOCAL})
    (s,) = engine.kb.sync([make_source(allowed)], progress=False).sources
    host = url.removeprefix("http://")
    assert f"site/{host}/lunch.html" in s.added
    (refused,) = [k for k in s.skipped if "moved" in str(k.path)]
    assert "localhost is a non-public address" in refused.reason
    assert "/moved.html" in [p for p, _ in state.requests]
    assert "/secret.html" not in [p for p, _ in state.requests]  # the hop was never made


def test_a_web_page_over_the_byte_limit_is_refused(
    site: tuple[Site, str], engine: SupportEngine
) -> None:
    state, url = site
    state.page("/lunch.html", "Lunch", "The canteen serves lunch from noon to 2 pm.")
    state.page("/dump.html", "Dump", "filler text " * 20_000)  # 240 kB
    config = SourceConfig(
        id="site",
        kind="web",
        location=f"{url}/sitemap.xml",
        delay_s=0,
        max_document_mb=0.1,
        allow_private_hosts=LOCAL,
    )
    (s,) = engine.kb.sync([make_source(config)], progress=False).sources
    host = url.removeprefix("http://")
    assert s.added == [f"site/{host}/lunch.html"]
    (refused,) = [k for k in s.skipped if "dump" in str(k.path)]
    assert "over the limit of 0.1 MB" in refused.reason


def test_web_sitemap_source(site: tuple[Site, str], engine: SupportEngine) -> None:
    state, url = site
    state.page("/parking.html", "Parking", "Staff park behind building B, free of charge.")
    state.page("/lunch.html", "Lunch", "The canteen serves lunch from noon to 2 pm.")
    state.page("/wifi.html", "Wi-Fi", "The guest Wi-Fi password is printed at reception.")
    state.page("/private/salaries.html", "Salaries", "Senior engineers earn a secret amount.")
    config = SourceConfig(
        id="site",
        kind="web",
        location=f"{url}/sitemap.xml",
        delay_s=0,
        audience="public",
        allow_private_hosts=LOCAL,
    )
    first = engine.kb.sync([make_source(config)], progress=False)
    (s,) = first.sources
    host = url.removeprefix("http://")
    assert sorted(s.added) == [f"site/{host}/{p}.html" for p in ("lunch", "parking", "wifi")]
    assert not any(p.startswith("/private/") for p, _ in state.requests)  # robots.txt obeyed
    assert [k.reason for k in s.skipped] == ["disallowed by robots.txt"]
    hit = engine.kb.retrieve(PARK, audience="public").hits[0]
    assert hit.chunk.uri.startswith(f"{url}/parking.html")  # the page's own URL
    assert "Home | Docs" not in hit.chunk.text  # navigation is not content

    # 404 → removed; 500 → kept; changed → updated; unchanged → 304, nothing downloaded.
    state.pages["/wifi.html"] = (404, "gone")
    state.pages["/lunch.html"] = (500, "oops")
    state.page("/parking.html", "Parking", "Staff now park in the new garage on Elm Street.")
    state.requests.clear()
    second = engine.kb.sync([make_source(config)], progress=False)
    (s,) = second.sources
    assert s.removed == [f"site/{host}/wifi.html"]
    assert s.changed == [f"site/{host}/parking.html"]
    assert [k.reason for k in s.skipped] == [
        "disallowed by robots.txt",
        "HTTP 500 (its indexed version stays)",
    ]
    docs = engine.kb.index.documents("site")
    assert set(docs) == {f"site/{host}/parking.html", f"site/{host}/lunch.html"}
    hit = engine.kb.retrieve(PARK, audience="public").hits[0]
    assert "Elm Street" in hit.chunk.text
    state.pages["/lunch.html"] = (200, state.pages["/lunch.html"][1])
    state.page("/lunch.html", "Lunch", "The canteen serves lunch from noon to 2 pm.")
    state.requests.clear()
    third = engine.kb.sync([make_source(config)], progress=False)
    assert third.sources[0].unchanged == 2 and third.embedded == 0
    conditional = [inm for p, inm in state.requests if p == "/parking.html"]
    assert conditional and conditional[0] is not None  # asked with If-None-Match


def test_web_crawl_and_site_down(site: tuple[Site, str], engine: SupportEngine) -> None:
    state, url = site
    state.page("/", "Docs home", "Welcome to the help centre.", ("/returns.html", "/private/x"))
    state.page("/returns.html", "Returns", "Items can be returned within 30 days.", ("/deep.html",))
    state.page("/deep.html", "Deep", "Too deep to be crawled at depth one.")
    state.page("/private/x", "Private", "Hidden by robots.txt.")
    config = SourceConfig(
        id="help",
        kind="web",
        location=f"{url}/",
        delay_s=0,
        max_depth=1,
        allow_private_hosts=LOCAL,
    )
    report = engine.kb.sync([make_source(config)], progress=False)
    host = url.removeprefix("http://")
    assert sorted(report.sources[0].added) == [f"help/{host}/", f"help/{host}/returns.html"]
    state.robots = ""
    state.pages.clear()  # the whole site answers 404 now, robots.txt aside
    down = engine.kb.sync([make_source(config)], progress=False)
    assert down.sources[0].error is not None and "start page" in down.sources[0].error
    assert len(engine.kb.index.documents("help")) == 2  # nothing removed
