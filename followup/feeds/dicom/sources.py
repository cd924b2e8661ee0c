"""Calling AE titles: what a valid one is (PS3.8 9.3.2: 1 to 16 characters of the default
character repertoire, no backslash or control character; leading and trailing spaces are
not significant)."""


class InvalidAeTitle(ValueError):
    pass


def clean_ae_title(value: str) -> str:
    title = value.strip()
    if not 1 <= len(title) <= 16:
        raise InvalidAeTitle("An AE title has 1 to 16 characters.")
    if not title.isascii() or "\\" in title or any(ord(c) < 32 or ord(c) == 127 for c in title):
        raise InvalidAeTitle("An AE title is printable ASCII, without a backslash.")
    return title
