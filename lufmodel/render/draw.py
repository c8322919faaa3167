"""A tiny vector drawing: laid out once, written as SVG text or rasterised to PNG with Pillow.

The graph renderers compute positions themselves (CPU lanes, BFS layers), so no system
Graphviz is needed. Items carry an optional CSS ``cls`` so the HTML view can highlight the
items of the current step.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, Union

from lufmodel.errors import LufModelError

FONT_FAMILY = "DejaVu Sans Mono, Menlo, Consolas, monospace"
CHAR_WIDTH = 0.62
"""Width of one character of the monospace font, in units of its size (for layout)."""


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    color: str = "#555"
    width: float = 1.0
    dash: bool = False
    cls: str = ""


@dataclass(frozen=True)
class Polygon:
    points: tuple[tuple[float, float], ...]
    fill: str = "#555"
    cls: str = ""


@dataclass(frozen=True)
class Circle:
    x: float
    y: float
    r: float
    fill: str = "#fff"
    stroke: str = "#333"
    width: float = 1.0
    cls: str = ""
    title: str = ""


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str = "none"
    stroke: str = "none"
    width: float = 1.0
    cls: str = ""


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    size: float = 12.0
    color: str = "#222"
    bold: bool = False
    anchor: str = "start"
    """``start`` or ``middle``; ``y`` is the baseline."""
    cls: str = ""


Item = Union[Line, Polygon, Circle, Rect, Text]


@dataclass(frozen=True)
class Drawing:
    width: float
    height: float
    items: tuple[Item, ...]
    title: str = ""


def text_width(text: str, size: float) -> float:
    return len(text) * size * CHAR_WIDTH


def arrow(
    x1: float, y1: float, x2: float, y2: float, color: str, width: float, cls: str = "", gap: float = 0.0,
    start_gap: float | None = None,
) -> list[Item]:
    """A line from (x1, y1) to (x2, y2), ``gap`` short of either end, with an arrowhead."""
    sgap = gap if start_gap is None else start_gap
    dx, dy = x2 - x1, y2 - y1
    length = (dx * dx + dy * dy) ** 0.5 or 1.0
    ux, uy = dx / length, dy / length
    ex, ey = x2 - ux * gap, y2 - uy * gap
    head = 6.0 + 2.0 * width
    bx, by = ex - ux * head, ey - uy * head
    px, py = -uy * head * 0.45, ux * head * 0.45
    return [
        Line(x1 + ux * sgap, y1 + uy * sgap, bx, by, color, width, cls=cls),
        Polygon(((ex, ey), (bx + px, by + py), (bx - px, by - py)), color, cls=cls),
    ]


# ---- SVG ------------------------------------------------------------------------------------


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _cls(cls: str) -> str:
    return f' class="{escape(cls)}"' if cls else ""


def to_svg(d: Drawing, *, element_id: str = "") -> str:
    """The drawing as a standalone SVG document (also valid inline in HTML)."""
    ident = f' id="{escape(element_id)}"' if element_id else ""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg"{ident} width="{_num(d.width)}" height="{_num(d.height)}" '
        f'viewBox="0 0 {_num(d.width)} {_num(d.height)}" font-family="{FONT_FAMILY}">'
    ]
    if d.title:
        out.append(f"<title>{escape(d.title)}</title>")
    out.append(f'<rect x="0" y="0" width="{_num(d.width)}" height="{_num(d.height)}" fill="#fff"/>')
    for it in d.items:
        if isinstance(it, Line):
            dash = ' stroke-dasharray="4 4"' if it.dash else ""
            out.append(
                f'<line{_cls(it.cls)} x1="{_num(it.x1)}" y1="{_num(it.y1)}" x2="{_num(it.x2)}" y2="{_num(it.y2)}" '
                f'stroke="{it.color}" stroke-width="{_num(it.width)}"{dash}/>'
            )
        elif isinstance(it, Polygon):
            pts = " ".join(f"{_num(x)},{_num(y)}" for x, y in it.points)
            out.append(f'<polygon{_cls(it.cls)} points="{pts}" fill="{it.fill}"/>')
        elif isinstance(it, Circle):
            title = f"<title>{escape(it.title)}</title>" if it.title else ""
            out.append(
                f'<circle{_cls(it.cls)} cx="{_num(it.x)}" cy="{_num(it.y)}" r="{_num(it.r)}" fill="{it.fill}" '
                f'stroke="{it.stroke}" stroke-width="{_num(it.width)}">{title}</circle>'
            )
        elif isinstance(it, Rect):
            out.append(
                f'<rect{_cls(it.cls)} x="{_num(it.x)}" y="{_num(it.y)}" width="{_num(it.w)}" height="{_num(it.h)}" '
                f'fill="{it.fill}" stroke="{it.stroke}" stroke-width="{_num(it.width)}"/>'
            )
        else:
            weight = ' font-weight="bold"' if it.bold else ""
            anchor = ' text-anchor="middle"' if it.anchor == "middle" else ""
            out.append(
                f'<text{_cls(it.cls)} x="{_num(it.x)}" y="{_num(it.y)}" font-size="{_num(it.size)}" '
                f'fill="{it.color}"{weight}{anchor} xml:space="preserve">{escape(it.text)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---- PNG ------------------------------------------------------------------------------------

_MONO_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
)


def _font(size: int, bold: bool, cache: dict[tuple[int, bool], Any]) -> Any:
    from PIL import ImageFont

    key = (size, bold)
    if key not in cache:
        path = Path(_MONO_FONTS[1 if bold else 0])
        cache[key] = ImageFont.truetype(str(path), size) if path.exists() else ImageFont.load_default(size)
    return cache[key]


def to_png(d: Drawing, *, scale: float = 1.5) -> bytes:
    """The drawing rasterised with Pillow (no system Graphviz or Cairo needed)."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:  # pragma: no cover - pillow is a declared dependency
        raise LufModelError("PNG output needs Pillow: pip install pillow") from None
    w, h = max(1, int(d.width * scale)), max(1, int(d.height * scale))
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    fonts: dict[tuple[int, bool], Any] = {}

    def s(v: float) -> float:
        return v * scale

    for it in d.items:
        if isinstance(it, Line):
            width = max(1, round(it.width * scale))
            if it.dash:
                _dashed(draw, s(it.x1), s(it.y1), s(it.x2), s(it.y2), it.color, width, s(4))
            else:
                draw.line([(s(it.x1), s(it.y1)), (s(it.x2), s(it.y2))], fill=it.color, width=width)
        elif isinstance(it, Polygon):
            draw.polygon([(s(x), s(y)) for x, y in it.points], fill=it.fill)
        elif isinstance(it, Circle):
            r = s(it.r)
            draw.ellipse(
                [s(it.x) - r, s(it.y) - r, s(it.x) + r, s(it.y) + r],
                fill=it.fill,
                outline=it.stroke,
                width=max(1, round(it.width * scale)),
            )
        elif isinstance(it, Rect):
            box = [s(it.x), s(it.y), s(it.x + it.w), s(it.y + it.h)]
            fill = None if it.fill == "none" else it.fill
            outline = None if it.stroke == "none" else it.stroke
            draw.rectangle(box, fill=fill, outline=outline, width=max(1, round(it.width * scale)))
        else:
            font = _font(max(6, round(it.size * scale)), it.bold, fonts)
            anchor = "ms" if it.anchor == "middle" else "ls"
            draw.text((s(it.x), s(it.y)), it.text, fill=it.color, font=font, anchor=anchor)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _dashed(draw: Any, x1: float, y1: float, x2: float, y2: float, color: str, width: int, dash: float) -> None:
    dx, dy = x2 - x1, y2 - y1
    length = (dx * dx + dy * dy) ** 0.5
    if length == 0:
        return
    n = int(length // dash)
    for k in range(0, n, 2):
        a, b = k * dash / length, min((k + 1) * dash / length, 1.0)
        draw.line([(x1 + dx * a, y1 + dy * a), (x1 + dx * b, y1 + dy * b)], fill=color, width=width)
