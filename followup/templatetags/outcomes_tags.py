"""The follow-up's template filters: how the outcomes report writes a figure with its
interval, `73% (64 to 81)`."""

from django import template

register = template.Library()


def _written(figure, scale: float, digits: int, unit: str) -> str:
    if not isinstance(figure, dict) or figure.get("value") is None:
        return "n/a"
    text = f"{figure['value'] * scale:.{digits}f}{unit}"
    if figure.get("low") is not None and figure.get("high") is not None:
        text += f" ({figure['low'] * scale:.{digits}f} to {figure['high'] * scale:.{digits}f})"
    return text


@register.filter
def percent(figure) -> str:
    return _written(figure, 100, 0, "%")


@register.filter
def points(figure) -> str:
    return _written(figure, 1, 1, "")
