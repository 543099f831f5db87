#!/usr/bin/env python3
"""Write tests/data/en_hi_toy.tsv: a toy English -> Hindi parallel file for data=parallel_tsv.

    python scripts/make_en_hi_toy.py [--output tests/data/en_hi_toy.tsv]

A few hundred pairs of simple sentences made from templates ("My name is Ravi." / "मेरा नाम रवि है।",
"This is a big house." / "यह एक बड़ा घर है।"), with the Hindi inflected by hand-written rules: an
adjective that ends in -ā agrees with its noun's gender (बड़ा घर, बड़ी किताब), and a verb in the
present habitual agrees with its subject (रवि पढ़ता है, प्रिया पढ़ती है). It exists to show and test
that dlrun keeps Devanagari words whole (vowel signs, nukta, chandrabindu, conjuncts), not to train a
translator: the sentences are few and repetitive. `source<TAB>target` lines, no header, UTF-8 in
Unicode NFC; the same run always writes the same bytes.
"""

from __future__ import annotations

import argparse
import random
import unicodedata
from pathlib import Path

OUTPUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "en_hi_toy.tsv"

# (English, Hindi, gender): "m" or "f".
NAMES = [
    ("Ravi", "रवि", "m"),
    ("Amit", "अमित", "m"),
    ("Rahul", "राहुल", "m"),
    ("Sajal", "सजल", "m"),
    ("Vikram", "विक्रम", "m"),
    ("Arjun", "अर्जुन", "m"),
    ("Rohan", "रोहन", "m"),
    ("Sunil", "सुनील", "m"),
    ("Deepak", "दीपक", "m"),
    ("Karan", "करण", "m"),
    ("Manoj", "मनोज", "m"),
    ("Anil", "अनिल", "m"),
    ("Priya", "प्रिया", "f"),
    ("Neha", "नेहा", "f"),
    ("Anita", "अनीता", "f"),
    ("Sita", "सीता", "f"),
    ("Meera", "मीरा", "f"),
    ("Kavita", "कविता", "f"),
    ("Pooja", "पूजा", "f"),
    ("Asha", "आशा", "f"),
    ("Lata", "लता", "f"),
    ("Radha", "राधा", "f"),
    ("Geeta", "गीता", "f"),
    ("Nisha", "निशा", "f"),
]

NOUNS = [
    ("house", "घर", "m"),
    ("room", "कमरा", "m"),
    ("garden", "बगीचा", "m"),
    ("city", "शहर", "m"),
    ("village", "गाँव", "m"),
    ("school", "स्कूल", "m"),
    ("door", "दरवाज़ा", "m"),
    ("car", "गाड़ी", "f"),
    ("book", "किताब", "f"),
    ("table", "मेज़", "f"),
    ("chair", "कुर्सी", "f"),
    ("window", "खिड़की", "f"),
    ("road", "सड़क", "f"),
    ("shop", "दुकान", "f"),
    ("watch", "घड़ी", "f"),
]

# (English, Hindi masculine, Hindi feminine): the -ā adjectives inflect, the others do not.
ADJECTIVES = [
    ("big", "बड़ा", "बड़ी"),
    ("small", "छोटा", "छोटी"),
    ("new", "नया", "नई"),
    ("old", "पुराना", "पुरानी"),
    ("beautiful", "सुंदर", "सुंदर"),
    ("clean", "साफ़", "साफ़"),
]

# (English verb phrase, Hindi object or place, Hindi verb stem): "reads a book" -> "किताब पढ़ता/पढ़ती है".
VERBS = [
    ("reads a book", "किताब", "पढ़"),
    ("writes a letter", "चिट्ठी", "लिख"),
    ("drinks water", "पानी", "पी"),
    ("drinks tea", "चाय", "पी"),
    ("eats rice", "चावल", "खा"),
    ("eats an apple", "सेब", "खा"),
    ("plays cricket", "क्रिकेट", "खेल"),
    ("sings a song", "गाना", "गा"),
    ("speaks Hindi", "हिंदी", "बोल"),
    ("goes to school", "स्कूल", "जा"),
    ("drives a car", "गाड़ी", "चला"),
    ("works in the city", "शहर में काम", "कर"),
    ("lives in a village", "गाँव में", "रह"),
]
VERBS_PER_NAME = 5


def pairs(seed: int = 0) -> list[tuple[str, str]]:
    """Every sentence of every template but the verb one, which takes VERBS_PER_NAME verbs per name
    (seeded), in template order."""
    out = [(f"My name is {en}.", f"मेरा नाम {hi} है।") for en, hi, _ in NAMES]
    for demonstrative_en, demonstrative_hi in (("This", "यह"), ("That", "वह")):
        for noun_en, noun_hi, gender in NOUNS:
            for adj_en, masculine, feminine in ADJECTIVES:
                adj_hi = masculine if gender == "m" else feminine
                article = "an" if adj_en[0] in "aeiou" else "a"
                out.append(
                    (
                        f"{demonstrative_en} is {article} {adj_en} {noun_en}.",
                        f"{demonstrative_hi} एक {adj_hi} {noun_hi} है।",
                    )
                )
    for noun_en, noun_hi, gender in NOUNS:
        for adj_en, masculine, feminine in ADJECTIVES:
            out.append((f"The {noun_en} is {adj_en}.", f"{noun_hi} {masculine if gender == 'm' else feminine} है।"))
    rng = random.Random(seed)
    for name_en, name_hi, gender in NAMES:
        ending = "ता" if gender == "m" else "ती"
        for verb_en, obj_hi, stem in rng.sample(VERBS, VERBS_PER_NAME):
            out.append((f"{name_en} {verb_en}.", f"{name_hi} {obj_hi} {stem}{ending} है।"))
    for name_en, name_hi, gender in NAMES:
        out.append((f"{name_en} is my friend.", f"{name_hi} {'मेरा' if gender == 'm' else 'मेरी'} दोस्त है।"))
        out.append((f"{name_en} is at home.", f"{name_hi} घर पर है।"))
    out += [(f"Where is the {noun_en}?", f"{noun_hi} कहाँ है?") for noun_en, noun_hi, _ in NOUNS]
    return [(unicodedata.normalize("NFC", en), unicodedata.normalize("NFC", hi)) for en, hi in out]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    rows = pairs()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("".join(f"{en}\t{hi}\n" for en, hi in rows), encoding="utf-8")
    print(f"wrote {len(rows)} pairs to {args.output}")


if __name__ == "__main__":
    main()
