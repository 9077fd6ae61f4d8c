"""A ``web`` source: the pages of a ``sitemap.xml``, or a site crawled from a start URL.

- **Listing.** A ``location`` ending in ``.xml`` is a sitemap (a sitemap index is followed one
  level down); anything else is a start URL, crawled breadth-first over links to the same host,
  up to ``max_depth`` links away and ``max_pages`` pages.
- **Politeness.** robots.txt is fetched first and obeyed for ``user_agent`` (Protego, which
  follows RFC 9309): a robots.txt that answers 4xx allows everything, one that cannot be
  fetched (5xx, network error) means the site is down and nothing is synced (RFC 9309 §2.3.1.4
  has a crawler assume complete disallow then). At most ``concurrency`` requests run at once
  and each is followed by a pause of ``delay_s`` (or the robots.txt ``Crawl-delay``, if longer).
- **Change detection.** A page fetched before is asked for with ``If-None-Match`` /
  ``If-Modified-Since`` (its stored ETag / Last-Modified); ``304 Not Modified`` keeps it without
  a download. A crawled page that links onward is always fetched whole, since its links are
  needed; the content hash then decides whether it is re-embedded.
- **Outcomes.** 200 with HTML: fetched (markdownify turns it into Markdown with headings).
  404/410: gone (pruned). 5xx, 429, 401/403, timeouts: failed, the indexed version stays.
  A start URL or sitemap that cannot be fetched raises
  :class:`~knowledge.sources.SourceUnavailable`.
- **Addresses.** No request (redirects included) goes to a private, loopback or link-local
  address unless the host is in ``allow_private_hosts`` (:mod:`knowledge.sources.egress`).

Citations link to the page's own URL (plus the section's anchor). Document ids are
``id/host/path`` (with ``?query`` when there is one).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
from llama_index.core import Document
from protego import Protego

from knowledge.documents import Skipped, SourceFile, html_to_markdown
from knowledge.sources import (
    Failed,
    Fetched,
    Item,
    Kept,
    KnownDoc,
    ScanResult,
    SourceUnavailable,
)
from knowledge.sources.config import SourceConfig
from knowledge.sources.egress import request_guard

T = TypeVar("T")
HTML_TYPES = ("text/html", "application/xhtml+xml")
GONE = {404, 410}


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from blocking code, even from a thread whose event loop is
    running (then in a fresh thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass(frozen=True)
class _Page:
    url: str
    status: int
    html: str | None
    version: str | None
    error: str | None = None


def _validators(response: httpx.Response) -> str | None:
    etag = response.headers.get("etag")
    modified = response.headers.get("last-modified")
    if not etag and not modified:
        return None
    return json.dumps({"etag": etag, "last_modified": modified}, sort_keys=True)


def _conditional_headers(version: str | None) -> dict[str, str]:
    if not version:
        return {}
    try:
        v = json.loads(version)
    except ValueError:
        return {}
    headers = {}
    if v.get("etag"):
        headers["If-None-Match"] = v["etag"]
    if v.get("last_modified"):
        headers["If-Modified-Since"] = v["last_modified"]
    return headers


def _links(base: str, html: str) -> list[str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    out = []
    for a in soup.find_all("a", href=True):
        href = a.get("href")
        if isinstance(href, str) and not href.startswith(("mailto:", "javascript:", "tel:")):
            out.append(urldefrag(urljoin(base, href.strip()))[0])
    return out


class WebSource:
    """Pages of a site (see the module docstring)."""

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.start = config.location
        parts = urlsplit(config.location)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"source {config.id!r}: {config.location!r} is not an http(s) URL")
        self.site = f"{parts.scheme}://{parts.netloc}"
        self.is_sitemap = parts.path.lower().endswith(".xml")
        self._robots: Protego | None = None
        self._delay = config.delay_s

    # -- ids ----------------------------------------------------------------------------------
    def relative(self, url: str) -> str:
        """``host/path[?query]`` of a URL (the part ``include``/``exclude`` and ids use)."""
        p = urlsplit(url)
        path = p.path or "/"
        return f"{p.netloc}{path}" + (f"?{p.query}" if p.query else "")

    def doc_id(self, url: str) -> str:
        """The document id of a page URL."""
        return self.config.doc_id(self.relative(url))

    def out_of_scope(self, url: str) -> str | None:
        """Why ``url`` is not synced (another site, the filters, robots.txt), or ``None``."""
        p = urlsplit(url)
        if f"{p.scheme}://{p.netloc}" != self.site:
            return "on another site"
        if not self.config.wants(p.path or "/"):
            return "excluded by include/exclude"
        if self._robots is not None and not self._robots.can_fetch(url, self.config.user_agent):
            return "disallowed by robots.txt"
        return None

    # -- fetching -----------------------------------------------------------------------------
    async def _get(
        self, client: httpx.AsyncClient, gate: asyncio.Semaphore, url: str, version: str | None
    ) -> _Page:
        """Fetch one page; its body is read up to the source's ``max_document_mb`` only (a page
        over it is refused without being held in memory)."""
        limit = self.config.limits.max_bytes
        async with gate:
            try:
                async with client.stream("GET", url, headers=_conditional_headers(version)) as r:
                    if r.status_code == 304:
                        return _Page(url, 304, None, version)
                    if r.status_code != 200:
                        return _Page(url, r.status_code, None, None, f"HTTP {r.status_code}")
                    ctype = r.headers.get("content-type", "text/html").split(";")[0]
                    ctype = ctype.strip().lower()
                    if ctype not in HTML_TYPES:
                        return _Page(url, 415, None, None, f"unsupported content type {ctype}")
                    over = f"over the limit of {limit / (1024 * 1024):.1f} MB (max_document_mb)"
                    declared = r.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limit:
                        return _Page(url, 413, None, None, over)
                    body = bytearray()
                    async for part in r.aiter_bytes():
                        body += part
                        if len(body) > limit:
                            return _Page(url, 413, None, None, over)
                    html = bytes(body).decode(r.encoding or "utf-8", errors="replace")
                    return _Page(str(r.url), 200, html, _validators(r))
            except httpx.HTTPError as exc:
                return _Page(url, 0, None, None, f"{type(exc).__name__}: {exc}")
            finally:
                await asyncio.sleep(self._delay)

    async def _load_robots(self, client: httpx.AsyncClient) -> None:
        url = f"{self.site}/robots.txt"
        try:
            r = await client.get(url)
        except httpx.HTTPError as exc:
            raise SourceUnavailable(
                f"source {self.config.id!r}: cannot fetch {url} ({type(exc).__name__}: {exc}); "
                "site down? nothing removed"
            ) from None
        if r.status_code >= 500:
            raise SourceUnavailable(
                f"source {self.config.id!r}: {url} answered HTTP {r.status_code}; site down? "
                "nothing removed"
            )
        self._robots = Protego.parse(r.text if r.status_code == 200 else "")
        delay = self._robots.crawl_delay(self.config.user_agent)
        if delay:
            self._delay = max(self._delay, float(delay))

    async def _sitemap_urls(self, client: httpx.AsyncClient, url: str, depth: int = 0) -> list[str]:
        try:
            r = await client.get(url)
        except httpx.HTTPError as exc:
            raise SourceUnavailable(
                f"source {self.config.id!r}: cannot fetch the sitemap {url} "
                f"({type(exc).__name__}: {exc}); nothing removed"
            ) from None
        if r.status_code != 200:
            raise SourceUnavailable(
                f"source {self.config.id!r}: the sitemap {url} answered HTTP {r.status_code}; "
                "nothing removed"
            )
        try:
            root = ET.fromstring(r.content)
        except ET.ParseError as exc:
            raise SourceUnavailable(
                f"source {self.config.id!r}: the sitemap {url} is not valid XML ({exc}); "
                "nothing removed"
            ) from None
        locs = [(el.text or "").strip() for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "loc"]
        if root.tag.rsplit("}", 1)[-1] == "sitemapindex" and depth == 0:
            out: list[str] = []
            for sub in locs:
                out += await self._sitemap_urls(client, sub, depth + 1)
            return out
        return [u for u in locs if u]

    async def _scan(self, known: Mapping[str, KnownDoc]) -> ScanResult:
        result = ScanResult()
        limits = httpx.Limits(max_connections=self.config.concurrency)
        headers = {"User-Agent": self.config.user_agent}
        gate = asyncio.Semaphore(self.config.concurrency)
        async with httpx.AsyncClient(
            follow_redirects=True,
            timeout=self.config.timeout_s,
            limits=limits,
            headers=headers,
            event_hooks={"request": [request_guard(self.config.allow_private_hosts)]},
        ) as client:
            await self._load_robots(client)
            pages: list[_Page]
            if self.is_sitemap:
                urls = list(dict.fromkeys(await self._sitemap_urls(client, self.start)))
                listed = []
                for u in urls:
                    problem = self.out_of_scope(u)
                    if problem is None:
                        listed.append(u)
                    else:
                        result.ignored.append(Skipped(u, problem))
                for u in listed[self.config.max_pages :]:
                    result.ignored.append(Skipped(u, f"over max_pages ({self.config.max_pages})"))
                listed = listed[: self.config.max_pages]
                pages = await asyncio.gather(
                    *(self._get(client, gate, u, self._version(known, u)) for u in listed)
                )
            else:
                pages = await self._crawl(client, gate, known, result)
        for page in pages:
            item = self._item(page, known)
            if item is not None:
                result.items.append(item)
        return result

    def _version(self, known: Mapping[str, KnownDoc], url: str) -> str | None:
        k = known.get(self.doc_id(url))
        return k.version if k is not None else None

    async def _crawl(
        self,
        client: httpx.AsyncClient,
        gate: asyncio.Semaphore,
        known: Mapping[str, KnownDoc],
        result: ScanResult,
    ) -> list[_Page]:
        problem = self.out_of_scope(self.start)
        if problem is not None:
            raise SourceUnavailable(f"source {self.config.id!r}: {self.start} is {problem}")
        seen = {self.start}
        frontier = [self.start]
        pages: list[_Page] = []
        for depth in range(self.config.max_depth + 1):
            leaf = depth == self.config.max_depth
            batch = await asyncio.gather(
                *(
                    # Pages whose links are still needed are fetched whole.
                    self._get(client, gate, u, self._version(known, u) if leaf else None)
                    for u in frontier
                )
            )
            if depth == 0 and batch[0].status not in (200, 304):
                raise SourceUnavailable(
                    f"source {self.config.id!r}: the start page {self.start} failed "
                    f"({batch[0].error}); nothing removed"
                )
            pages += batch
            frontier = []
            for page in batch:
                if page.html is None or leaf:
                    continue
                for link in _links(page.url, page.html):
                    if link in seen:
                        continue
                    seen.add(link)
                    if len(seen) > self.config.max_pages:
                        break
                    if self.out_of_scope(link) is None:
                        frontier.append(link)
            if not frontier:
                break
        return pages

    def _item(self, page: _Page, known: Mapping[str, KnownDoc]) -> Item | None:
        doc_id = self.doc_id(page.url)
        if page.status == 304:
            return Kept(doc_id)
        if page.status in GONE:
            return None
        if page.status == 415:  # not a page we read: neither a document nor a failure
            return None
        if page.html is None:
            return Failed(doc_id, page.url, page.error or f"HTTP {page.status}")
        title, markdown = html_to_markdown(page.html)
        if not markdown.strip():
            return Failed(doc_id, page.url, "no text on the page")
        digest = hashlib.sha256(markdown.encode("utf-8")).hexdigest()
        before = known.get(doc_id)
        if before is not None and before.source_hash == digest:
            return Kept(doc_id)
        file = SourceFile(None, doc_id, page.url)
        title = title or urlsplit(page.url).path.rsplit("/", 1)[-1] or page.url
        return Fetched(file, title, [Document(text=markdown)], "markdown", digest, page.version)

    def scan(self, known: Mapping[str, KnownDoc]) -> ScanResult:
        """See :meth:`knowledge.sources.Source.scan` (runs its own event loop; blocking).

        Raises:
            SourceUnavailable: robots.txt, the sitemap or the start page cannot be fetched.
        """
        self._delay = self.config.delay_s
        return run_coroutine(self._scan(known))
