"""Secrets never printed: a URL's password (a PostgreSQL ``--storage``) is shown as ``***``.

Drivers' own messages may quote the URL they were given, so ``hide`` also masks the password
wherever it appears in an error's text.
"""
from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"


def password_of(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:  # a malformed netloc (an unclosed IPv6 bracket, a bad port)
        return None


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("@")[-1] if "@" in url else url
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{name}:{MASK}@{host}"))


def hide(text: str, url: str) -> str:
    """``text`` (an error message) with ``url``'s password masked, raw or percent-decoded."""
    secret = password_of(url)
    for form in {secret, unquote(secret)} if secret else ():
        if form:
            text = text.replace(form, MASK)
    return text
