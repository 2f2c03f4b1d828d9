"""Bar charts drawn as SVG when the site is built: no chart library in the browser."""

from __future__ import annotations

from html import escape

WIDTH = 720
LABEL = 300  # room for the labels, left of the bars
BAR = 22
GAP = 8
INK, BARS = "#1b1b1f", "#0b4f9c"


def bar_chart(title: str, rows: list[tuple[str, int]]) -> str:
    """Horizontal bars, one a row, with their label and their count; described for screen
    readers by its title and an accessible summary."""
    top = max((count for _, count in rows), default=0) or 1
    room = WIDTH - LABEL - 60
    height = len(rows) * (BAR + GAP) + GAP
    summary = ", ".join(f"{label} : {count}" for label, count in rows)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(summary)}</desc>",
    ]
    for index, (label, count) in enumerate(rows):
        y = GAP + index * (BAR + GAP)
        length = round(room * count / top)
        shown = label if len(label) <= 42 else label[:40] + "…"
        parts += [
            f'<text x="{LABEL - 8}" y="{y + BAR - 6}" text-anchor="end" font-size="14" '
            f'fill="{INK}">{escape(shown)}</text>',
            f'<rect x="{LABEL}" y="{y}" width="{length}" height="{BAR}" fill="{BARS}"/>',
            f'<text x="{LABEL + length + 6}" y="{y + BAR - 6}" font-size="14" '
            f'fill="{INK}">{count}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)
