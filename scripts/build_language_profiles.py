"""Build the language identifier's profiles from langdetect's, offline.

    pip download --no-deps --no-binary :all: langdetect==1.0.9 -d /tmp/ld
    python scripts/build_language_profiles.py /tmp/ld/langdetect-1.0.9.tar.gz

langdetect (Apache-2.0, © 2010-2014 Cybozu Labs, Inc., © 2014-2015 Michal Danilak)
ships, per language, the frequencies of character 1-, 2- and 3-grams in Wikipedia
text. This script keeps them lowercased (upper and lower case counts merged), as log
probabilities relative to a floor per language and order (half the rarest kept count),
and adds the words of the English training messages of data/text/train.jsonl seen at
least twice, the identifier's quick way to recognize a message the intent model can
read. Writes src/tactful/language/data/language_profiles.json. Chinese, Japanese and
Korean are told by their scripts instead (tactful.language.identify).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import tarfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "src" / "tactful" / "language" / "data" / "language_profiles.json"
TRAIN = ROOT / "data" / "text" / "train.jsonl"
BY_SCRIPT = {"ja", "ko", "zh-cn", "zh-tw"}
SOURCE = "langdetect 1.0.9 profiles (Apache-2.0, Cybozu Labs, Inc.; Michal Danilak)"
MARGIN = 0.2  # per n-gram: how much better than English another language must score
DIGITS = 2
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def profiles(sdist: Path) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    with tarfile.open(sdist) as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            parts = member.name.split("/")
            if len(parts) >= 2 and parts[-2] == "profiles" and member.isfile():
                handle = archive.extractfile(member)
                assert handle is not None
                found[parts[-1]] = json.loads(handle.read().decode("utf-8"))
    return found


def english_words(min_count: int = 2) -> list[str]:
    counts: Counter[str] = Counter()
    for line in TRAIN.read_text(encoding="utf-8").splitlines():
        counts.update(_TOKEN.findall(json.loads(line)["text"].lower()))
    return sorted(w for w, n in counts.items() if n >= min_count and not w.isdigit())


def build(sdist: Path) -> dict[str, object]:
    languages = sorted(code for code in profiles(sdist) if code not in BY_SCRIPT)
    grams: dict[str, list[float]] = {}
    floors: list[list[float]] = []
    raw = profiles(sdist)
    for index, code in enumerate(languages):
        merged: Counter[str] = Counter()
        for gram, count in raw[code]["freq"].items():  # type: ignore[attr-defined]
            merged[gram.lower()] += count
        floor_of_language = []
        for order in (1, 2, 3):
            kept = {g: c for g, c in merged.items() if len(g) == order}
            total = sum(kept.values())
            floor = math.log(min(kept.values()) * 0.5 / total)
            floor_of_language.append(round(floor, DIGITS))
            for gram, count in sorted(kept.items()):
                delta = round(math.log(count / total) - floor, DIGITS)
                grams.setdefault(gram, []).extend([index, delta])
        floors.append(floor_of_language)
    return {
        "format": "tactful-language-profiles/1",
        "source": SOURCE,
        "languages": languages,
        "margin": MARGIN,
        "floors": floors,
        "words": {"en": english_words()},
        "grams": dict(sorted(grams.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sdist", type=Path, help="langdetect-1.0.9.tar.gz")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    document = build(args.sdist)
    lines = ["{"]
    items = list(document.items())
    for n, (key, value) in enumerate(items):
        end = "," if n < len(items) - 1 else ""
        if key == "grams":
            assert isinstance(value, dict)
            rows = [
                f"{json.dumps(g, ensure_ascii=False)}: {json.dumps(v)}" for g, v in value.items()
            ]
            lines.append('"grams": {\n' + ",\n".join(rows) + f"\n}}{end}")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{end}")
    args.output.write_text("\n".join(lines) + "\n}\n", encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
