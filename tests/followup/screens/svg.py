"""Reading the server's SVG as XML: elements by tag and class, and SVGs cut out of a page."""

import re
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
PICTURE = re.compile(r"<svg\b[^>]*\bclass=\"followup-picture\".*?</svg>", re.DOTALL)
CHART = re.compile(r"<svg\b[^>]*\bclass=\"chart\".*?</svg>", re.DOTALL)


def parse(svg: str) -> ET.Element:
    """Fails the test if the SVG is not well-formed XML."""
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg", root.tag
    return root


def classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def class_with(element: ET.Element, prefix: str) -> str:
    """The element's class that starts with `prefix` (`status-`, `modality-`, ...)."""
    (found,) = [c for c in classes(element) if c.startswith(prefix)]
    return found


def find(root: ET.Element, tag: str, *wanted: str) -> list[ET.Element]:
    """Elements `tag` carrying every class in `wanted`."""
    return [e for e in root.iter(f"{NS}{tag}") if set(wanted) <= classes(e)]


def tooltip(element: ET.Element) -> str:
    title = element.find(f"{NS}title")
    return title.text if title is not None else ""


def pictures_in(html: str) -> list[ET.Element]:
    return [parse(svg) for svg in PICTURE.findall(html)]


def charts_in(html: str) -> list[ET.Element]:
    return [parse(svg) for svg in CHART.findall(html)]
