"""Incident notes' Markdown -> HTML that is safe to publish.

CommonMark without raw HTML (``<script>`` is shown as text), without images
(a page loads nothing from elsewhere), and with links only to http(s), mailto
or the page's own site (no ``javascript:``, ``data:``, ``vbscript:``). Links
open as ``rel="nofollow noopener noreferrer"``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})


def safe_link(url: str) -> bool:
    """http(s), mailto, or a path on this site (no scheme, no host of its own)."""
    text = url.strip()
    if any(ord(c) < 0x20 for c in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    if parts.scheme:
        return parts.scheme.lower() in SAFE_SCHEMES
    return not text.startswith("//") and not text.startswith("\\")


def _link_open(
    renderer: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
    return renderer.renderToken(tokens, idx, options, env)


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")
    md.validateLink = safe_link  # type: ignore[method-assign]
    md.add_render_rule("link_open", _link_open)
    return md


_MD = _parser()


@lru_cache(maxsize=1024)
def render(text: str) -> Markup:
    """The HTML of a note's Markdown (cached: notes change only with the config)."""
    return Markup(_MD.render(text))


def plain(text: str, limit: int = 300) -> str:
    """A one-paragraph text version (feeds' summaries), never HTML."""
    tokens: list[Any] = _MD.parseInline(text)
    words: list[str] = []
    for token in tokens:
        for child in token.children or ():
            if child.type in ("text", "code_inline"):
                words.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                words.append(" ")
    flat = " ".join("".join(words).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
