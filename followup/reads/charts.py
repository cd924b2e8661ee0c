"""Small server-side SVG charts for the dashboard and the outcomes report: stacked
horizontal bars with labels, and values with their intervals."""

from xml.sax.saxutils import escape


def stacked_bars(title: str, rows: list[tuple[str, list[int]]], series: list[tuple[str, str]],
                 width: int = 720) -> str:  # fmt: skip
    """rows: (label, values per series); series: (name, colour). Numbers are written on the
    bars, so the chart reads without colour."""
    label_width, bar_height, gap = 200, 18, 8
    height = 40 + len(rows) * (bar_height + gap) + 30
    most = max([sum(values) for _, values in rows] + [1])
    scale = (width - label_width - 60) / most
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" class="chart">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(_describe(rows, series))}</desc>",
        f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>',
    ]
    for index, (label, values) in enumerate(rows):
        y = 30 + index * (bar_height + gap)
        parts.append(f'<text x="0" y="{y + 13}">{escape(label)}</text>')
        x = label_width
        for (name, colour), value in zip(series, values, strict=True):
            if not value:
                continue
            w = round(value * scale, 1)
            parts.append(
                f'<rect x="{x}" y="{y}" width="{w}" height="{bar_height}" fill="{colour}" '
                f'stroke="#333" class="bar series-{escape(name.replace(" ", "-"))}">'
                f"<title>{escape(label)}: {value} {escape(name)}</title></rect>"
            )
            if w > 18:
                parts.append(f'<text x="{x + 3}" y="{y + 13}" fill="#000">{value}</text>')
            x += w
        parts.append(f'<text x="{x + 4}" y="{y + 13}" fill="#333">{sum(values)}</text>')
    legend_y = height - 12
    x = label_width
    for name, colour in series:
        parts.append(
            f'<rect x="{x}" y="{legend_y - 9}" width="10" height="10" fill="{colour}" '
            f'stroke="#333"/><text x="{x + 14}" y="{legend_y}">{escape(name)}</text>'
        )
        x += 20 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def _describe(rows, series) -> str:
    if not rows:
        return "No data."
    names = [name for name, _ in series]
    return "; ".join(
        f"{label}: " + ", ".join(f"{n} {name}" for name, n in zip(names, values, strict=True))
        for label, values in rows
    )


def intervals(title: str, rows: list[tuple[str, float | None, float | None, float | None]],
              unit: str = "", width: int = 720) -> str:  # fmt: skip
    """rows: (label, value, low, high): a dot for the value and a line for its 95%
    interval on one shared axis from 0 (or the lowest bound) to the highest bound; a row
    without a value (suppressed) says so instead."""
    label_width, row_height = 220, 22
    height = 40 + len(rows) * row_height + 24
    bounds = [b for _, v, lo, hi in rows for b in (v, lo, hi) if b is not None]
    least, most = min([0.0, *bounds]), max([1.0, *bounds])
    span = (most - least) or 1.0
    plot = width - label_width - 70

    def x(value: float) -> float:
        return round(label_width + (value - least) / span * plot, 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" class="chart">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(_describe_intervals(rows, unit))}</desc>",
        f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{x(0)}" y1="28" x2="{x(0)}" y2="{height - 22}" stroke="#999"/>',
    ]
    for index, (label, value, low, high) in enumerate(rows):
        y = 40 + index * row_height
        parts.append(f'<text x="0" y="{y + 4}">{escape(label)}</text>')
        if value is None:
            parts.append(f'<text x="{label_width}" y="{y + 4}" fill="#666">suppressed</text>')
            continue
        if low is not None and high is not None:
            parts.append(
                f'<line x1="{x(low)}" y1="{y}" x2="{x(high)}" y2="{y}" stroke="#333" '
                f'stroke-width="2" class="interval"/>'
            )
        parts.append(f'<circle cx="{x(value)}" cy="{y}" r="4" fill="#1f5f99" class="value"/>')
        parts.append(f'<text x="{width - 64}" y="{y + 4}">{value:.3g}{escape(unit)}</text>')
    axis_y = height - 8
    parts.append(f'<text x="{label_width}" y="{axis_y}" fill="#333">{least:.3g}</text>')
    parts.append(f'<text x="{label_width + plot - 20}" y="{axis_y}" fill="#333">{most:.3g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _describe_intervals(rows, unit: str) -> str:
    if not rows:
        return "No data."
    return "; ".join(
        f"{label}: suppressed" if value is None
        else f"{label}: {value:.3g}{unit}" + (
            f" (95% interval {low:.3g} to {high:.3g})" if low is not None else ""
        )
        for label, value, low, high in rows
    )  # fmt: skip
