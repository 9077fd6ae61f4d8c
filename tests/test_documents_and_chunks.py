"""Loading files and the metadata every chunk carries."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from llama_index.core import Document

from knowledge.chunking import Chunker, heading_anchor
from knowledge.documents import LoadError, SourceFile, discover, load_file
from knowledge.embedding import get_embedder
from knowledge.settings import DEFAULT_EMBEDDING_MODEL
from tests.conftest import KB

SAMPLE_PDF = Path(__file__).parent.parent / "samples" / "contoso" / "PerksPlus.pdf"


@pytest.fixture(scope="module")
def chunker() -> Chunker:
    tokenize = get_embedder(DEFAULT_EMBEDDING_MODEL).tokenizer_length_fn()
    return Chunker(tokenize, chunk_size=64, chunk_overlap=8, base_url="https://docs.example.com")


def test_discover_reports_unsupported_and_missing(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\ntext")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("b")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden.md").write_text("secret")
    (tmp_path / "LICENSE").write_text("MIT")
    files, skipped = discover([tmp_path, tmp_path / "nope.pdf"])
    assert [f.doc_id for f in files] == ["a.md", "sub/b.txt"]
    reasons = {s.path.name: s.reason for s in skipped}
    assert reasons == {
        "image.png": "unsupported file type .png",
        "nope.pdf": "no such file or folder",
    }


def test_corrupt_empty_and_binary_files_raise_load_error(tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n this is not really a pdf \x00\x01")
    empty = tmp_path / "empty.md"
    empty.write_text("   \n")
    binary = tmp_path / "latin1.txt"
    binary.write_bytes("caf\xe9".encode("latin-1"))
    for path, reason in [
        (corrupt, "unreadable PDF"),
        (empty, "no extractable text"),
        (binary, "not UTF-8"),
    ]:
        with pytest.raises(LoadError, match=reason):
            load_file(SourceFile(path, path.name))


def test_pdf_chunks_carry_page_and_citation_metadata(chunker: Chunker, tmp_path: Path) -> None:
    pdf = tmp_path / "perks.pdf"
    shutil.copy(SAMPLE_PDF, pdf)
    source = SourceFile(pdf, "benefits/perks.pdf")
    title, docs, fmt = load_file(source)
    assert fmt == "pdf" and title
    chunks = chunker.chunk(source, title, docs, fmt, audience="internal", doc_hash="h1")
    assert len(chunks) > len(docs)  # pages are split into several 64-token chunks
    pages = [c.page for c in chunks]
    assert pages == sorted(pages) and pages[0] == 1 and pages[-1] <= len(docs)
    first = chunks[0]
    assert first.source_id == "benefits/perks.pdf#page=1"
    assert first.uri == "https://docs.example.com/benefits/perks.pdf#page=1"
    assert first.audience == "internal" and first.doc_hash == "h1" and first.title == title
    assert len(first.content_hash) == 64
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
    assert first.embedding_text.startswith(f"{title} (page 1)\n")
    # Stable ids: the same input gives the same point ids.
    again = chunker.chunk(source, title, docs, fmt, audience="internal", doc_hash="h1")
    assert [c.chunk_id for c in again] == [c.chunk_id for c in chunks]
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_passage_over_a_page_break_stays_in_one_chunk_cited_by_its_first_page(
    chunker: Chunker,
) -> None:
    """Pages are split as one text: a sentence that runs over a page break is not cut in two,
    and each chunk is cited by the page it starts on."""
    filler = "Employees may ask their manager about the annual review schedule. " * 3
    page_1 = filler + "The wellness allowance of 1,000 dollars a year covers gym"
    page_2 = "memberships, yoga classes and running shoes. " + filler + "Claims are due by March."
    docs = [
        Document(text=page_1, metadata={"page": 1}),
        Document(text=page_2, metadata={"page": 2}),
    ]
    source = SourceFile(Path("perks.pdf"), "perks.pdf")
    chunks = chunker.chunk(source, "Perks", docs, "pdf", audience="public", doc_hash="h")
    crossing = [c for c in chunks if "covers gym" in c.text and "yoga classes" in c.text]
    assert crossing and all(c.page == 1 for c in crossing)
    for c in chunks:  # every chunk starts on the page it cites
        assert c.source_id == f"perks.pdf#page={c.page}"
        start = c.text.split()[0]
        assert start in (page_1 if c.page == 1 else page_2)
    assert chunks[-1].page == 2 and "Claims are due by March." in chunks[-1].text


def test_markdown_chunks_carry_heading_path(chunker: Chunker) -> None:
    path = KB / "public" / "returns-and-shipping.md"
    source = SourceFile(path, "returns-and-shipping.md")
    title, docs, fmt = load_file(source)
    assert (title, fmt) == ("Returns and Shipping Policy", "markdown")
    chunks = chunker.chunk(source, title, docs, fmt, audience="public", doc_hash="h")
    sections = {c.section for c in chunks}
    assert "Returns and Shipping Policy > Shipping" in sections
    shipping = next(c for c in chunks if c.section and c.section.endswith("Shipping"))
    assert "Express shipping" in shipping.text and shipping.page is None
    # A source is a section: its id and link carry the heading's anchor.
    assert shipping.source_id == "returns-and-shipping.md#shipping"
    assert shipping.uri.endswith("returns-and-shipping.md#shipping")


def test_repeated_headings_get_github_style_anchors(chunker: Chunker, tmp_path: Path) -> None:
    page = tmp_path / "plans.md"
    page.write_text(
        "# Plans\n\n## Basic\n\n### Overview\n\nBasic costs 5 dollars.\n\n"
        "## Pro & Team (EU)\n\n### Overview\n\nPro costs 9 dollars.\n"
    )
    source = SourceFile(page, "plans.md")
    chunks = chunker.chunk(source, *load_file(source), audience="public", doc_hash="h")
    ids = {c.text: c.source_id for c in chunks}
    assert ids["Basic costs 5 dollars."] == "plans.md#overview"
    assert ids["Pro costs 9 dollars."] == "plans.md#overview-1"
    assert heading_anchor("Pro & Team (EU)") == "pro--team-eu"


def test_html_heading_ids_are_the_anchors(chunker: Chunker, tmp_path: Path) -> None:
    page = tmp_path / "faq.html"
    page.write_text(
        '<html><body><h1>FAQ</h1><h2 id="billing-faq">Billing</h2><p>Invoices are monthly.</p>'
        "<h2>Refunds</h2><p>Refunds take a week.</p></body></html>"
    )
    source = SourceFile(page, "faq.html")
    chunks = chunker.chunk(source, *load_file(source), audience="public", doc_hash="h")
    by_text = {c.text: c for c in chunks}
    assert by_text["Invoices are monthly."].source_id == "faq.html#billing-faq"
    assert by_text["Invoices are monthly."].section == "FAQ > Billing"
    assert by_text["Refunds take a week."].source_id == "faq.html#refunds"


def test_docx_headings_become_sections(chunker: Chunker, tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Onboarding", level=1)
    document.add_heading("Laptops", level=2)
    document.add_paragraph("Laptops are issued on day one.")
    document.add_paragraph("Bring your badge.", style="List Bullet")
    document.add_heading("Parking", level=2)
    document.add_paragraph("Visitors park in lot B.")
    path = tmp_path / "onboarding.docx"
    document.save(str(path))
    source = SourceFile(path, path.name)
    title, docs, fmt = load_file(source)
    assert (title, fmt) == ("Onboarding", "markdown")
    chunks = chunker.chunk(source, title, docs, fmt, audience="public", doc_hash="h")
    parking = next(c for c in chunks if "lot B" in c.text)
    assert parking.section == "Onboarding > Parking"
    assert parking.source_id == "onboarding.docx#parking"
    laptops = next(c for c in chunks if "day one" in c.text)
    assert "- Bring your badge." in laptops.text


def test_html_keeps_title_and_sections(chunker: Chunker, tmp_path: Path) -> None:
    page = tmp_path / "faq.html"
    page.write_text(
        "<html><head><title>Help Center</title><script>var x=1;</script></head><body>"
        "<h1>FAQ</h1><h2>Billing</h2><p>Invoices are sent monthly.</p></body></html>"
    )
    source = SourceFile(page, "faq.html")
    title, docs, fmt = load_file(source)
    chunks = chunker.chunk(source, title, docs, fmt, audience="public", doc_hash="h")
    assert title == "Help Center"
    billing = [c for c in chunks if "Invoices" in c.text]
    assert billing and billing[0].section == "FAQ > Billing"
    assert all("var x" not in c.text for c in chunks)


def _write_docx(path: Path, paragraphs: list[str]) -> None:
    """A minimal valid DOCX (Office Open XML): content types, package rels, document body."""
    import zipfile

    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType='
            '"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
            "</Types>",
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
            'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="word/document.xml"/></Relationships>',
        )
        z.writestr(
            "word/document.xml",
            '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
            f'openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>',
        )


def test_docx_and_plain_text_are_loaded(chunker: Chunker, tmp_path: Path) -> None:
    docx = tmp_path / "onboarding_guide.docx"
    _write_docx(docx, ["Laptops are issued on day one.", "Badges are collected at reception."])
    text = tmp_path / "faq.txt"
    text.write_text("Parking is free for employees.\n\nVisitors park in lot B.")
    for path, expected in [(docx, "Badges are collected"), (text, "Visitors park in lot B")]:
        source = SourceFile(path, path.name)
        title, docs, fmt = load_file(source)
        chunks = chunker.chunk(source, title, docs, fmt, audience="public", doc_hash="h")
        assert any(expected in c.text for c in chunks)
        # No headings: each chunk is a part of its own, never the whole file.
        assert all(c.page is None and c.source_id == f"{path.name}#part=1" for c in chunks)
    assert load_file(SourceFile(docx, docx.name))[0] == "Onboarding Guide"
    broken = tmp_path / "broken.docx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(LoadError, match="unreadable DOCX"):
        load_file(SourceFile(broken, broken.name))
