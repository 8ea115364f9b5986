"""Hand-built SVG charts for the hub's pages: bars, grouped bars and a histogram, labelled, titled, escaped.

No charting dependency and no JavaScript: each function returns one inline ``<svg>`` element as
markup safe to put in a template. Every text (labels, titles, numbers) is XML-escaped here, because
labels come from the catalogue and the division tree, not from code. The charts read without
colour: every bar carries its number, the second series of grouped bars is hatched, and each bar
has a ``<title>`` (a tooltip, and what a screen reader says) besides the chart's ``<title>`` and
``<desc>``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

__all__ = ("bar_chart", "grouped_bars", "histogram", "text_width")

FONT = 12
"""Label size in px; the page's font (CJK first) is inherited by inline SVG."""
COLOURS = ("#1f4e79", "#c55a11")
"""Series colours: dark enough for white-on-bar contrast; the second series is hatched as well."""
_AXIS = "#444"
_GRID = "#ddd"


def text_width(text: str, size: float = FONT) -> float:
    """The width in px a label needs: CJK (wide) characters a full em, others about 0.6 em."""
    return sum(size if unicodedata.east_asian_width(ch) in ("W", "F") else size * 0.6 for ch in text)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _nice_top(top: float) -> tuple[float, float]:
    """(axis maximum, tick step) for values up to ``top``: steps of 1, 2 or 5 times a power of ten."""
    if top <= 0:
        return 1.0, 1.0
    raw = top / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(step, 1.0)  # counts: never a tick between two whole numbers
    return math.ceil(top / step) * step, step


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: float = FONT, extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def _open(ident: str, width: float, height: float, title: str, desc: str, css_class: str) -> list[str]:
    # The id is code's, not data: it names the title, the description and the hatch pattern (url(#…)).
    if not _IDENT.fullmatch(ident):
        raise ValueError(f"chart id {ident!r}: letters, digits, - and _ only, a letter first")
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" id={quoteattr(ident)} class={quoteattr(css_class)} role="img"'
        f' viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}"'
        f" aria-labelledby={quoteattr(f'{ident}-title {ident}-desc')}>",
        f"<title id={quoteattr(ident + '-title')}>{escape(title)}</title>",
        f"<desc id={quoteattr(ident + '-desc')}>{escape(desc)}</desc>",
    ]


def _hatch(ident: str, colour: str) -> str:
    return (
        f'<defs><pattern id={quoteattr(ident + "-hatch")} width="6" height="6" patternUnits="userSpaceOnUse"'
        ' patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="#fff"/><rect width="3" height="6" fill="{colour}"/></pattern></defs>'
    )


def _value_axis(
    parts: list[str], *, left: float, top: float, plot_w: float, plot_h: float, axis_max: float, step: float
) -> None:
    """Horizontal grid lines with their numbers on the left of a vertical-bar plot."""
    ticks = round(axis_max / step)
    for i in range(ticks + 1):
        value = i * step
        y = top + plot_h - plot_h * value / axis_max
        parts.append(f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{_GRID}"/>')
        parts.append(_text(left - 4, y + 4, _number(value), anchor="end", size=FONT - 1))
    parts.append(
        f'<line x1="{left:.1f}" x2="{left:.1f}" y1="{top:.1f}" y2="{top + plot_h:.1f}" stroke="{_AXIS}"/>'
        f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{top + plot_h:.1f}" y2="{top + plot_h:.1f}"'
        f' stroke="{_AXIS}"/>'
    )


def _axis_titles(
    parts: list[str], *, x_label: str, y_label: str, left: float, top: float, plot_w: float, height: float
) -> None:
    """The value axis's name above it, the category axis's name under the chart."""
    if y_label:
        parts.append(_text(4, top - 10, y_label, size=FONT - 1, extra=' class="axis-label"'))
    if x_label:
        parts.append(
            _text(left + plot_w / 2, height - 4, x_label, anchor="middle", size=FONT - 1, extra=' class="axis-label"')
        )


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    ident: str,
    title: str,
    desc: str,
    value_label: str = "",
    width: int = 560,
) -> Markup:
    """Horizontal bars, one per label (long CJK names read best so), each with its number at its end."""
    if len(labels) != len(values):
        raise ValueError("bar_chart: one value per label")
    bar_h, gap, top = 18, 6, 8
    left = max((text_width(label) for label in labels), default=0) + 12
    right = 12 + text_width(_number(max(values, default=0)))
    plot_w = max(width - left - right, 60)
    height = top + len(labels) * (bar_h + gap) + (22 if value_label else 8)
    largest = max(values, default=0) or 1
    parts = _open(ident, left + plot_w + right, height, title, desc, "chart bar-chart")
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * (bar_h + gap)
        w = plot_w * value / largest
        parts.append(
            f'<g class="bar" data-label={quoteattr(label)} data-value="{_number(value)}">'
            f"<title>{escape(label)}: {_number(value)}</title>"
            + _text(left - 6, y + bar_h - 5, label, anchor="end")
            + f'<rect x="{left:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar_h}" fill="{COLOURS[0]}"/>'
            + _text(left + w + 4, y + bar_h - 5, _number(value))
            + "</g>"
        )
    parts.append(f'<line x1="{left:.1f}" x2="{left:.1f}" y1="{top - 2}" y2="{height - 20:.1f}" stroke="{_AXIS}"/>')
    if value_label:
        parts.append(
            _text(
                left + plot_w / 2, height - 4, value_label, anchor="middle", size=FONT - 1, extra=' class="axis-label"'
            )
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def grouped_bars(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    ident: str,
    title: str,
    desc: str,
    x_label: str = "",
    y_label: str = "",
    width: int = 720,
    height: int = 260,
) -> Markup:
    """Vertical bars, one group per category and one bar per series (at most two), with a legend."""
    if not 1 <= len(series) <= len(COLOURS):
        raise ValueError(f"grouped_bars: one to {len(COLOURS)} series")
    if any(len(values) != len(categories) for _, values in series):
        raise ValueError("grouped_bars: each series has one value per category")
    top, bottom, right = 40, 40, 8
    axis_max, step = _nice_top(max((v for _, values in series for v in values), default=0))
    left = 10 + text_width(_number(axis_max), FONT - 1)
    plot_w, plot_h = width - left - right, height - top - bottom
    group_w = plot_w / max(len(categories), 1)
    bar_w = min(group_w * 0.8 / len(series), 28)
    parts = _open(ident, width, height, title, desc, "chart grouped-bars")
    parts.append(_hatch(ident, COLOURS[1]))
    _value_axis(parts, left=left, top=top, plot_w=plot_w, plot_h=plot_h, axis_max=axis_max, step=step)
    fills = (COLOURS[0], f"url(#{ident}-hatch)")
    for c, category in enumerate(categories):
        x0 = left + c * group_w + (group_w - bar_w * len(series)) / 2
        for s, (name, values) in enumerate(series):
            value = values[c]
            h = plot_h * value / axis_max
            x, y = x0 + s * bar_w, top + plot_h - h
            parts.append(
                f'<g class="bar" data-series={quoteattr(name)} data-label={quoteattr(category)}'
                f' data-value="{_number(value)}"><title>{escape(category)} {escape(name)}: {_number(value)}</title>'
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{fills[s]}"'
                f' stroke="{COLOURS[s]}"/>'
                + _text(x + bar_w / 2, y - 3, _number(value), anchor="middle", size=FONT - 2)
                + "</g>"
            )
        parts.append(_text(left + (c + 0.5) * group_w, top + plot_h + 15, category, anchor="middle", size=FONT - 1))
    # The legend, top right, in series order (as a screen reader reads it): a swatch and the name.
    x = width - right - sum(text_width(name) + 22 for name, _ in series)
    for s, (name, _) in enumerate(series):
        parts.append(
            f'<g class="legend"><rect x="{x:.1f}" y="6" width="14" height="14" fill="{fills[s]}"'
            f' stroke="{COLOURS[s]}"/>' + _text(x + 18, 18, name) + "</g>"
        )
        x += text_width(name) + 22
    _axis_titles(parts, x_label=x_label, y_label=y_label, left=left, top=top, plot_w=plot_w, height=height)
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram(
    bins: Sequence[str],
    counts: Sequence[float],
    *,
    ident: str,
    title: str,
    desc: str,
    x_label: str = "",
    y_label: str = "",
    width: int = 560,
    height: int = 240,
    colours: Sequence[str] | None = None,
) -> Markup:
    """Adjacent vertical bars, one per bin (``bins`` are the bins' names), each with its count.

    ``colours`` (one per bin, ``#rrggbb``) colour bins by meaning, e.g. past a warning threshold: as
    attributes, since the pages' Content-Security-Policy allows no style but their one style sheet.
    """
    if len(bins) != len(counts) or (colours is not None and len(colours) != len(bins)):
        raise ValueError("histogram: one count (and colour) per bin")
    if colours is not None and not all(_COLOUR.fullmatch(c) for c in colours):
        raise ValueError("histogram: colours as #rrggbb")
    top, bottom, right = 30, 40, 8
    axis_max, step = _nice_top(max(counts, default=0))
    left = 10 + text_width(_number(axis_max), FONT - 1)
    plot_w, plot_h = width - left - right, height - top - bottom
    bin_w = plot_w / max(len(bins), 1)
    parts = _open(ident, width, height, title, desc, "chart histogram")
    _value_axis(parts, left=left, top=top, plot_w=plot_w, plot_h=plot_h, axis_max=axis_max, step=step)
    for i, (name, count) in enumerate(zip(bins, counts, strict=True)):
        h = plot_h * count / axis_max
        x, y = left + i * bin_w, top + plot_h - h
        fill = colours[i] if colours else COLOURS[0]
        parts.append(
            f'<g class="bar" data-label={quoteattr(name)} data-value="{_number(count)}">'
            f"<title>{escape(name)}: {_number(count)}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bin_w:.1f}" height="{h:.1f}" fill="{fill}" stroke="#fff"/>'
            + _text(x + bin_w / 2, y - 3, _number(count), anchor="middle", size=FONT - 1)
            + _text(x + bin_w / 2, top + plot_h + 15, name, anchor="middle", size=FONT - 1)
            + "</g>"
        )
    _axis_titles(parts, x_label=x_label, y_label=y_label, left=left, top=top, plot_w=plot_w, height=height)
    parts.append("</svg>")
    return Markup("".join(parts))
