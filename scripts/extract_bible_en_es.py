#!/usr/bin/env python3
"""Extract the English-Spanish verse pairs of src/dlrun/data/files/bible_en_es.tsv.gz.

Sources (both public domain), from Debian:
    apt-get install -y sword-text-web sword-text-sparv libsword-utils
    mod2imp engWEB2015eb > web.imp      # World English Bible (2015 edition)
    mod2imp spaRV1909eb  > rv.imp       # Reina-Valera 1909

Run with no arguments to call mod2imp itself, or give the two .imp exports:
    python scripts/extract_bible_en_es.py [--english web.imp --spanish rv.imp] [--max-words 15] [--output F]

Each verse of an .imp export is a `$$$Book C:V` line followed by its OSIS text. The verses are joined
on that key; `:0` keys (book and chapter headings) and module headings are dropped; `<note>`,
`<title>` and `<speaker>` elements are dropped with their content, every other tag is removed (its
content kept), entities are unescaped, spaces are normalized and the space before punctuation is
removed. Pairs where both sides have at most --max-words words (runs of non-space characters) are
written as `english<TAB>spanish<TAB>key` lines in canonical verse order (the English module's
order), gzipped with mtime 0 and no file name, so the same inputs always give the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import html
import io
import re
import subprocess
import sys
from pathlib import Path

ENGLISH_MODULE = "engWEB2015eb"
SPANISH_MODULE = "spaRV1909eb"
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "src/dlrun/data/files/bible_en_es.tsv.gz"

# "$$$Genesis 1:1", "$$$1 Kings 3:16", "$$$Song of Solomon 2:1".
VERSE_KEY = re.compile(r"^(?P<book>.+) (?P<chapter>\d+):(?P<verse>\d+)$")
# Elements dropped with everything inside them (never nested within themselves in these modules).
DROPPED_ELEMENTS = ("note", "title", "speaker")
_DROPPED = re.compile(r"<(?P<name>" + "|".join(DROPPED_ELEMENTS) + r")\b[^>]*?(?<!/)>.*?</(?P=name)\s*>", re.DOTALL)
_DROPPED_EMPTY = re.compile(r"<(?:" + "|".join(DROPPED_ELEMENTS) + r")\b[^>]*/>")
# Inline markup whose removal must not split a word: <w>God</w>, <q>“...</q>, <transChange>...
INLINE_TAGS = ("w", "q", "seg", "name", "transChange", "reference", "catchWord", "rdg", "hi", "foreign", "divineName")
_INLINE = re.compile(r"</?(?:" + "|".join(INLINE_TAGS) + r")\b[^>]*>")
# Every other tag (div, l, lg, lb, milestone, chapter, list, item...) separates words.
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?)\]»])")
_SPACE_AFTER_OPENING = re.compile(r"([(\[«¿¡“‘])\s+")
# A closing quote after a space: followed by the end, a space or punctuation (not "’s" inside a word).
_SPACE_BEFORE_CLOSING_QUOTE = re.compile(r"\s+([”’])(?=$|[\s,.;:!?)\]”’])")


def clean_osis(text: str) -> str:
    """OSIS markup of one verse -> plain text: notes, titles and speaker labels dropped with their
    content, other tags removed, entities unescaped, spaces normalized and none before punctuation."""
    text = _DROPPED.sub(" ", text)
    text = _DROPPED_EMPTY.sub(" ", text)
    text = _INLINE.sub("", text)
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    return fix_spacing(text)


def fix_spacing(text: str) -> str:
    """One space between words; none before , . ; : ! ? ) ] » or a closing quote, none after ( [ « ¿ ¡ “ ‘."""
    text = _SPACES.sub(" ", text).strip()
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
    text = _SPACE_AFTER_OPENING.sub(r"\1", text)
    text = _SPACE_BEFORE_CLOSING_QUOTE.sub(r"\1", text)
    return text


def parse_imp(text: str) -> dict[str, str]:
    """An .imp export -> {verse key: OSIS text}, in file order; headings (`[ ... ]` keys) and `:0` keys
    (book and chapter introductions) left out."""
    verses: dict[str, str] = {}
    key: str | None = None
    lines: list[str] = []

    def close() -> None:
        if key is not None:
            match = VERSE_KEY.match(key)
            if match and int(match["verse"]) > 0:
                verses[key] = "\n".join(lines)

    for line in text.splitlines():
        if line.startswith("$$$"):
            close()
            key, lines = line[3:].strip(), []
        else:
            lines.append(line)
    close()
    return verses


def join_verses(english: dict[str, str], spanish: dict[str, str]) -> list[tuple[str, str, str]]:
    """(english, spanish, key) for every key in both, cleaned, in the English module's (canonical) order;
    verses empty on either side after cleaning are left out."""
    pairs = []
    for key, osis in english.items():
        if key not in spanish:
            continue
        en, es = clean_osis(osis), clean_osis(spanish[key])
        if en and es:
            pairs.append((en, es, key))
    return pairs


def word_count(text: str) -> int:
    return len(text.split())


def filter_length(pairs: list[tuple[str, str, str]], max_words: int) -> list[tuple[str, str, str]]:
    """The pairs whose sides both have at most `max_words` words."""
    return [p for p in pairs if word_count(p[0]) <= max_words and word_count(p[1]) <= max_words]


def to_tsv_gz(pairs: list[tuple[str, str, str]]) -> bytes:
    """`english<TAB>spanish<TAB>key` lines, gzipped deterministically (mtime 0, no file name)."""
    for row in pairs:
        if any("\t" in field or "\n" in field for field in row):
            raise ValueError(f"a field of {row[2]} holds a tab or a newline")
    text = "".join("\t".join(row) + "\n" for row in pairs)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as f:
        f.write(text.encode("utf-8"))
    return buffer.getvalue()


def export(module: str) -> str:
    try:
        return subprocess.run(["mod2imp", module], check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        sys.exit("mod2imp not found: apt-get install -y sword-text-web sword-text-sparv libsword-utils")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--english", type=Path, help=f"`mod2imp {ENGLISH_MODULE}` output (default: run it)")
    parser.add_argument("--spanish", type=Path, help=f"`mod2imp {SPANISH_MODULE}` output (default: run it)")
    parser.add_argument("--max-words", type=int, default=15, help="most words on either side (default 15)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the .tsv.gz to write")
    args = parser.parse_args(argv)
    english_text = args.english.read_text(encoding="utf-8") if args.english else export(ENGLISH_MODULE)
    spanish_text = args.spanish.read_text(encoding="utf-8") if args.spanish else export(SPANISH_MODULE)
    english, spanish = parse_imp(english_text), parse_imp(spanish_text)
    aligned = join_verses(english, spanish)
    kept = filter_length(aligned, args.max_words)
    data = to_tsv_gz(kept)
    args.output.write_bytes(data)
    print(f"verses: {len(english)} English, {len(spanish)} Spanish, {len(set(english) & set(spanish))} keys in both")
    print(f"aligned non-empty pairs: {len(aligned)}")
    print(f"pairs of at most {args.max_words} words a side: {len(kept)}")
    print(f"wrote {args.output} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
