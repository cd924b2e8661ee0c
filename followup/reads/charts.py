"""Small server-side SVG charts for the dashboard: stacked horizontal bars with labels."""

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
