"""Charts drawn on the server as inline SVG (no JavaScript, no copied chart library).

Each chart carries a <title> and <desc> for screen readers, and the page shows the same numbers
in a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

#: Outcome -> fill colour (chosen for contrast on white and for colour-blind readers).
PALETTE = {
    "approved": "#1b7837",
    "denied": "#b2182b",
    "no_licence_required": "#2166ac",
    "withdrawn": "#6a6a6a",
}
_FALLBACK = ("#7b3294", "#e08214", "#35978f")


def stacked_bars(title: str, labels: Sequence[str], series: dict[str, Sequence[int]],
                 width: int = 720, height: int = 220) -> Markup:
    """A stacked bar per label (e.g. per day), one colour per series (e.g. per outcome)."""
    pad_l, pad_b, pad_t = 36, 28, 10
    n = max(1, len(labels))
    totals = [sum(s[i] for s in series.values()) for i in range(len(labels))]
    top = max([1, *totals])
    plot_h = height - pad_b - pad_t
    bar_w = (width - pad_l) / n
    parts = [f'<svg role="img" aria-labelledby="t-{id(labels)}" viewBox="0 0 {width} {height}" '
             f'width="100%" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="t-{id(labels)}">{escape(title)}</title>',
             f'<desc>{escape(_describe(labels, series))}</desc>',
             f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width}" y2="{pad_t + plot_h}" stroke="#333"/>',
             f'<text x="{pad_l - 4}" y="{pad_t + 10}" font-size="11" text-anchor="end">{top}</text>',
             f'<text x="{pad_l - 4}" y="{pad_t + plot_h}" font-size="11" text-anchor="end">0</text>']
    for i, label in enumerate(labels):
        y = pad_t + plot_h
        for j, (name, values) in enumerate(series.items()):
            v = values[i]
            if not v:
                continue
            h = plot_h * v / top
            y -= h
            colour = PALETTE.get(name, _FALLBACK[j % len(_FALLBACK)])
            parts.append(f'<rect x="{pad_l + i * bar_w + 1:.1f}" y="{y:.1f}" width="{max(1.0, bar_w - 2):.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{escape(label)}: {v} {escape(name)}</title></rect>')
        if i % max(1, n // 6) == 0:
            parts.append(f'<text x="{pad_l + i * bar_w:.1f}" y="{height - 8}" font-size="11">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def hbars(title: str, rows: Sequence[tuple[str, float | None]], unit: str = "",
          width: int = 480, row_h: int = 22) -> Markup:
    """One horizontal bar per row (e.g. per queue); a missing value is drawn as "n/a"."""
    pad_l = 150
    height = row_h * max(1, len(rows)) + 8
    top = max([1.0, *(v for _, v in rows if v is not None)])
    parts = [f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="100%" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i, (label, value) in enumerate(rows):
        y = 4 + i * row_h
        parts.append(f'<text x="{pad_l - 6}" y="{y + 15}" font-size="12" text-anchor="end">{escape(label)}</text>')
        if value is None:
            parts.append(f'<text x="{pad_l + 4}" y="{y + 15}" font-size="12">n/a</text>')
            continue
        w = (width - pad_l - 60) * value / top
        parts.append(f'<rect x="{pad_l}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="#2166ac"/>')
        parts.append(f'<text x="{pad_l + w + 4:.1f}" y="{y + 15}" font-size="12">{value:g}{escape(unit)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _describe(labels: Sequence[str], series: dict[str, Sequence[int]]) -> str:
    totals = {name: sum(values) for name, values in series.items()}
    if not labels:
        return "no data"
    spread = ", ".join(f"{name} {n}" for name, n in totals.items()) or "no decisions"
    return f"{labels[0]} to {labels[-1]}: {spread}"
