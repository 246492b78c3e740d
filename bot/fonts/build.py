"""Rebuild ``chart-sans-jp.otf``, the chart's font: a subset of Noto Sans CJK JP Regular.

The chart draws its title, axis names and legend in the policy's language; Pillow's default
font has no Japanese glyphs (they come out as empty boxes). The full font is 16 MB, so the
project ships a subset: ASCII and Latin-1, general and CJK punctuation, kana, full-width forms
and the JIS X 0208 level-1 kanji (the ~3,000 everyday ones) — any label a translator is likely
to write. ``tests/test_chart.py`` fails when a chart label uses a character outside it; then
run, with fontTools installed (``pip install fonttools``) and Debian's ``fonts-noto-cjk``::

    python -m bot.fonts.build /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

The subset is renamed ("SLA Chart Sans JP"), as the SIL Open Font License asks of modified
versions; the licence is ``OFL.txt`` beside it.
"""

from __future__ import annotations

import sys
from pathlib import Path

FAMILY = "SLA Chart Sans JP"
OUTPUT = Path(__file__).with_name("chart-sans-jp.otf")
#: code point ranges kept whole
RANGES = (
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1
    (0x2010, 0x2044),  # general punctuation (dashes, quotes, ellipsis, ‰)
    (0x2190, 0x2193),  # arrows
    (0x2212, 0x2212),  # minus
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x30FF),  # hiragana, katakana
    (0xFF01, 0xFF9F),  # full-width forms, half-width katakana
)


def level1_kanji() -> list[int]:
    """JIS X 0208 rows 16–47: the level-1 kanji, by decoding every cell of those rows."""
    kanji = []
    for row in range(16, 48):
        for cell in range(1, 95):
            try:
                kanji.append(ord(bytes([0xA0 + row, 0xA0 + cell]).decode("euc_jp")))
            except UnicodeDecodeError:
                continue
    return kanji


def main(source: str) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTCollection

    collection = TTCollection(source)
    font = next(f for f in collection.fonts if "JP" in f["name"].getDebugName(1))
    unicodes = [cp for low, high in RANGES for cp in range(low, high + 1)] + level1_kanji()
    options = subset.Options()
    options.layout_features = ["kern", "palt", "vert"]
    options.name_IDs = []  # rewritten below
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)
    names = font["name"]
    names.names = []
    for name_id, value in (
        (0, "Subset of Noto Sans CJK JP (© Adobe, © Google), SIL Open Font License 1.1"),
        (1, FAMILY),
        (2, "Regular"),
        (3, f"{FAMILY} Regular"),
        (4, f"{FAMILY} Regular"),
        (6, FAMILY.replace(" ", "") + "-Regular"),
    ):
        names.setName(value, name_id, 3, 1, 0x409)
    font["CFF "].cff.fontNames = [FAMILY.replace(" ", "") + "-Regular"]
    font.save(OUTPUT)
    print(f"{OUTPUT.name}: {len(unicodes)} code points, {OUTPUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
