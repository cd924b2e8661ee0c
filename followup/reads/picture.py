"""The follow-up of one surgery as a picture: a server-rendered SVG, no script, no network.

x is days since the surgery. Each checkpoint window is a band coloured by status,
milestones are vertical lines (the gadolinium cutoff marked), exams are points on
their modality's row, alerts are triangles by severity, back pain is a small curve.
Colours come with shapes, labels and a legend, so the picture reads in print and in
grey; a <title> and <desc> give the text alternative.
"""

from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

from patients.levels import variant_note

from .timeline import Entry

WIDTH, LEFT, RIGHT = 960, 90, 20
ROWS = ["XR", "CT", "MR", "NM", "PT", "RF", "US"]
BAND_COLOURS = {"upcoming": "#d9e2ec", "open": "#ffe08a", "satisfied": "#8fd19e",
                "overdue": "#f28b82", "waived": "#c7c7c7"}  # fmt: skip
MODALITY_COLOURS = {"XR": "#1f77b4", "CT": "#9467bd", "MR": "#17becf", "NM": "#8c564b",
                    "PT": "#e377c2", "RF": "#7f7f7f", "US": "#bcbd22"}  # fmt: skip
SEVERITY_COLOURS = {"info": "#6c8ebf", "warning": "#e6a700", "high": "#d9480f",
                    "urgent": "#b00020"}  # fmt: skip
TICKS = [0, 42, 90, 183, 270, 365, 425, 730, 1095, 1460, 1825]


@dataclass
class Layout:
    days: int  # the width of the picture, in days since surgery

    def x(self, day: float) -> float:
        return round(LEFT + max(0.0, min(day, self.days)) * (WIDTH - LEFT - RIGHT) / self.days, 1)


def _day(at: datetime, day0: datetime) -> float:
    return (at - day0).total_seconds() / 86400


def _attrs(**attributes) -> str:
    return " ".join(f"{name.rstrip('_').replace('_', '-')}={quoteattr(str(value))}"
                    for name, value in attributes.items())  # fmt: skip


def _el(tag: str, body: str = "", **attributes) -> str:
    """An element with a tooltip (<title>): what a pointer or a screen reader finds."""
    inner = f"<title>{escape(body)}</title>" if body else ""
    return f"<{tag} {_attrs(**attributes)}>{inner}</{tag}>"


def _text(content: str, **attributes) -> str:
    return f"<text {_attrs(**attributes)}>{escape(content)}</text>"


def render(
    surgery: Entry,
    entries: list[Entry],
    now: datetime,
    variant: str = "",
    lumbar_vertebrae: int = 5,
) -> str:
    """One surgery's picture, from its timeline entries; the transitional variant and a
    lumbarisation (six lumbar vertebrae, so L6 is a level) are shown at the top."""
    variant = variant_note(variant, lumbar_vertebrae)
    day0 = surgery.at
    mine = [e for e in entries if e.surgery == surgery.id and e.type != "surgery"]
    last = max([_day(now, day0)] + [_day(e.data.get("due_at") or e.at, day0) for e in mine])
    layout = Layout(days=int(max(365, last + 30)))
    bands = [e for e in mine if e.type in ("checkpoint", "workup")]
    shift = 18 if variant else 0  # room for the variant note above the axis
    top = 40 + shift
    band_y = {e.id: top + 20 * i for i, e in enumerate(bands)}
    alerts_room = 10 * max(1, sum(e.type == "alert" for e in mine))
    exams_top = top + 20 * len(bands) + 12 + min(alerts_room, 120)
    pain_top = exams_top + 20 * len(ROWS) + 30  # room for the PROM windows above the scores
    height = pain_top + 84

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11" '
        f'aria-labelledby="t{surgery.id} d{surgery.id}" class="followup-picture" '
        f'style="max-width: 100%; height: auto">',  # scales down to a narrower page
        f'<title id="t{surgery.id}">{escape(_title(surgery))}</title>',
        f'<desc id="d{surgery.id}">{escape(_description(mine, now, variant))}</desc>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
    ]
    if variant:
        parts.append(_text(f"Transitional variant: {variant}", x=LEFT, y=16, fill="#b00020",
                           font_weight="bold", class_="variant"))  # fmt: skip
    parts += _axis(layout, height, shift)
    for entry in bands:
        parts.append(_band(entry, layout, day0, band_y[entry.id]))
    milestones = [e for e in mine if e.type == "milestone"]
    for index, entry in enumerate(milestones):  # labels staggered: milestones share days
        parts.append(_milestone(entry, layout, day0, top, pain_top - 12 * index))
    for row, modality in enumerate(ROWS):
        y = exams_top + 20 * row
        parts.append(_text(modality, x=8, y=y + 4, fill="#333"))
    for entry in (e for e in mine if e.type == "exam"):
        parts.append(_exam(entry, layout, day0, exams_top))
    # An alert stands over the exam that raised it (else at the time it was raised).
    exam_times = {e.id: e.at for e in mine if e.type == "exam"}
    stacked: dict[object, int] = {}
    for entry in (e for e in mine if e.type == "alert"):
        at = exam_times.get(entry.data.get("exam"), entry.at)
        stacked[at] = stacked.get(at, -1) + 1
        parts.append(_alert(entry, layout, _day(at, day0), exams_top - 12 - 10 * stacked[at]))
    parts += [_prom_band(e, layout, day0, pain_top - 16) for e in mine if e.type == "prom"]
    parts.append(_pain(mine, layout, day0, pain_top))
    parts.append("</svg>")
    return "".join(parts)


def _title(surgery: Entry) -> str:
    levels = ", ".join(surgery.data.get("levels") or [])
    return f"Follow-up of {surgery.data['procedure']} {levels} on {surgery.at:%Y-%m-%d}"


def _description(entries: list[Entry], now: datetime, variant: str) -> str:
    def count(kind: str) -> int:
        return sum(e.type == kind for e in entries)

    overdue = [e.data["label"] for e in entries
               if e.data.get("status") == "overdue" and e.type != "prom"]  # fmt: skip
    missing = [e.data["label"] for e in entries
               if e.data.get("status") == "overdue" and e.type == "prom"]  # fmt: skip
    text = (f"{count('checkpoint') + count('workup')} checkpoint windows, {count('milestone')} "
            f"milestones, {count('exam')} exams, {count('alert')} alerts, "
            f"{count('assessment')} pain assessments.")  # fmt: skip
    if overdue:
        text += " Overdue: " + "; ".join(overdue) + "."
    if missing:
        text += " PROMs missing: " + "; ".join(missing) + "."
    if variant:
        text += f" Lumbosacral transitional variant: {variant}."
    return text


def _axis(layout: Layout, height: int, shift: int) -> list[str]:
    y = 28 + shift
    parts = [f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke="#333"/>']
    for tick in (t for t in TICKS if t <= layout.days):
        x = layout.x(tick)
        parts.append(f'<line x1="{x}" y1="{y - 4}" x2="{x}" y2="{height - 10}" stroke="#eee"/>')
        parts.append(_text(f"d{tick}", x=x, y=y - 8, text_anchor="middle", fill="#333"))
    return parts


def _band(entry: Entry, layout: Layout, day0: datetime, y: int) -> str:
    status = entry.data["status"]
    x1 = layout.x(_day(entry.data["opens_at"], day0))
    x2 = max(layout.x(_day(entry.data["due_at"], day0)), x1 + 3)
    label = f"{entry.data['label']}: {status}"
    if entry.data.get("late"):
        label += " (late)"
    rect = _el("rect", label, x=x1, y=y, width=round(x2 - x1, 1), height=14, rx=3,
               fill=BAND_COLOURS.get(status, "#ddd"), stroke="#555",
               stroke_dasharray="4 2" if status == "overdue" else "none",
               class_=f"band status-{status} kind-{entry.type}")  # fmt: skip
    return rect + _text(f"{entry.data['code']} ({status})", x=x1 + 3, y=y + 11, fill="#111",
                        font_size=10)  # fmt: skip


def _milestone(entry: Entry, layout: Layout, day0: datetime, top: int, bottom: int) -> str:
    x = layout.x(_day(entry.at, day0))
    cutoff = entry.data["code"] == "gadolinium_cutoff"
    colour = "#b00020" if cutoff else "#555"
    line = _el("line", f"{entry.data['label']} ({entry.data['status']})", x1=x, y1=top - 6,
               x2=x, y2=bottom, stroke=colour, stroke_width=2 if cutoff else 1,
               stroke_dasharray="6 3", class_=f"milestone code-{entry.data['code']}")  # fmt: skip
    label = "gadolinium cutoff" if cutoff else entry.data["code"].replace("_", " ")
    return line + _text(label, x=x + 3, y=bottom - 4, fill=colour, font_size=10)


def _exam(entry: Entry, layout: Layout, day0: datetime, top: int) -> str:
    modality = entry.data["modality"]
    y = top + 20 * (ROWS.index(modality) if modality in ROWS else 0)
    findings = ", ".join(f["code"] for f in entry.data["findings"]) or "no findings recorded"
    return _el("circle", f"{modality} on {entry.at:%Y-%m-%d}: {findings}",
               cx=layout.x(_day(entry.at, day0)), cy=y, r=5,
               fill=MODALITY_COLOURS.get(modality, "#333"), stroke="#000",
               class_=f"exam modality-{modality}")  # fmt: skip


def _alert(entry: Entry, layout: Layout, day: float, y: int) -> str:
    x = layout.x(day)
    severity = entry.data["severity"]
    points = f"{x},{y - 6} {x - 5},{y + 3} {x + 5},{y + 3}"
    return _el("polygon", f"{severity} alert: {entry.data['code']} ({entry.data['status']})",
               points=points, fill=SEVERITY_COLOURS.get(severity, "#333"), stroke="#000",
               class_=f"alert severity-{severity}")  # fmt: skip


def _prom_band(entry: Entry, layout: Layout, day0: datetime, y: int) -> str:
    """A PROM time point's window, just above the scores it collects."""
    status = entry.data["status"]
    x1 = layout.x(_day(entry.data["opens_at"], day0))
    x2 = max(layout.x(_day(entry.data["due_at"], day0)), x1 + 3)
    shown = {"overdue": "missed", "satisfied": "answered"}.get(status, status)
    return _el("rect", f"{entry.data['label']}: {shown}", x=x1, y=y, width=round(x2 - x1, 1),
               height=8, rx=2, fill=BAND_COLOURS.get(status, "#ddd"), stroke="#555",
               stroke_dasharray="4 2" if status == "overdue" else "none",
               class_=f"prom-band status-{status}")  # fmt: skip


# The scores under the imaging: each 0-10 (the ODI's 0-100 drawn on the same scale, /10),
# told apart by line style as well as by colour.
SCORES = [("nrs_back", "NRS back", 1, "#333333", "none"),
          ("nrs_leg", "NRS leg", 1, "#1f77b4", "6 3"),
          ("odi", "ODI", 10, "#9467bd", "2 3")]  # fmt: skip


def _pain(entries: list[Entry], layout: Layout, day0: datetime, top: int) -> str:
    label = _text("Scores", x=8, y=top + 34, fill="#333")
    frame = (f'<rect x="{LEFT}" y="{top}" width="{WIDTH - LEFT - RIGHT}" height="60" '
             f'fill="none" stroke="#ccc"/>')  # fmt: skip
    parts = [label, frame]
    for index, (name, shown, per, colour, dashes) in enumerate(SCORES):
        scores = [(e.at, e.data[name]) for e in entries
                  if e.type == "assessment" and e.data.get(name) is not None]  # fmt: skip
        if not scores:
            continue
        ys = [(layout.x(_day(at, day0)), round(top + 60 - 6 * score / per, 1), at, score)
              for at, score in scores]  # fmt: skip
        points = " ".join(f"{x},{y}" for x, y, _, _ in ys)
        css = "pain" if name == "nrs_back" else f"score score-{name}"
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                     f'stroke-dasharray="{dashes}" class="{css}"/>')  # fmt: skip
        point_css = "pain-point" if name == "nrs_back" else f"score-point score-{name}"
        parts += [_el("circle", f"{shown} {score} on {at:%Y-%m-%d}", cx=x, cy=y, r=2.5,
                      fill=colour, class_=point_css) for x, y, at, score in ys]  # fmt: skip
        parts.append(_text(shown, x=LEFT + 4 + 70 * index, y=top + 72, fill=colour,
                           font_size=10))  # fmt: skip
    return "".join(parts)
