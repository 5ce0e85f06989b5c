"""Chinese, Japanese and Korean text from CPython's codec tests (test/cjkencodings), the sample's non-English pages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from danlu.errors import DataError


@dataclass(frozen=True)
class CjkText:
    variety: str  # "zh-Hans", "zh-Hant", "ja" or "ko": picks the site the pages appear on
    language: str  # ISO 639-1 code, as a language identifier reports it
    charsets: tuple[str, ...]  # how pages with this text are served; "utf-8" first
    lines: tuple[str, ...]


# (file, variety, language, charsets, lines to use). The Korean file ends with a line of rare
# syllables that euc-kr spells with 8-byte composition sequences few decoders support; skip it.
SOURCES = (
    ("gb2312-utf8.txt", "zh-Hans", "zh", ("utf-8", "gb2312", "gbk", "gb18030"), None),
    ("big5-utf8.txt", "zh-Hant", "zh", ("utf-8", "big5"), None),
    ("shift_jis-utf8.txt", "ja", "ja", ("utf-8", "shift_jis", "euc-jp"), None),
    ("euc_kr-utf8.txt", "ko", "ko", ("utf-8", "euc-kr"), 5),
)


def cjk_folder() -> Path:
    try:
        import test  # the CPython test package: some distributions ship Python without it
    except ImportError as error:
        raise DataError(
            f"CPython's test package is not installed ({error}); the sample's CJK pages are built from it"
        ) from error
    return Path(test.__file__).parent / "cjkencodings"


def cjk_texts(folder: Path | None = None) -> list[CjkText]:
    folder = folder or cjk_folder()
    texts = []
    for name, variety, language, charsets, keep in SOURCES:
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path}: CJK sample text not found; the sample is built from CPython's test package")
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        texts.append(CjkText(variety, language, charsets, tuple(lines[:keep])))
    return texts
