"""Student HTML made harmless for the instructor's browser (issue 10, item 6).

A student controls every output of their notebooks and every markdown cell they write. The
feedback pages, the notebooks formgrader shows for manual grading and the instructor report are
opened in the instructor's browser, logged in to the course's Jupyter server: a ``<script>``, an
``onerror=`` attribute or a ``javascript:`` link there runs with the instructor's rights.

* :func:`clean_html` keeps an allow-list of tags and attributes (ammonia, through ``nh3``): no
  script, style, iframe, object, embed, form or SVG element, no event-handler or ``style``
  attribute, links only to http, https, mailto or relative addresses, ``data:`` only for the
  ``src`` of an image (PNG, JPEG, GIF, WebP, SVG).
* :func:`is_harmless_html` checks a page fragment against the same allow-list, with the standard
  library's parser; anything it cannot account for (a comment, a declaration, a ``<`` it read as
  text) counts as harmful.
* :func:`clean_markdown` renders a markdown cell with nbconvert's own renderer (the one the
  feedback and formgrader pages use) and keeps the source as it is when the result is harmless;
  otherwise the cell becomes the cleaned HTML, or, failing that, its text shown as is.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import nh3

# Tags a cleaned fragment may hold: ammonia's defaults (text, lists, tables, links, images).
ALLOWED_TAGS = frozenset(nh3.ALLOWED_TAGS) | {"tfoot"}
# Attributes every allowed tag may carry: code highlighting and pandas tables use class.
GENERIC_ATTRIBUTES = frozenset({"class", "title", "lang", "dir", "align"})
# Attributes of particular tags: ammonia's defaults, table borders (pandas), heading anchors
# (nbconvert gives every markdown heading an id).
ALLOWED_ATTRIBUTES = {
    **{tag: frozenset(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()},
    "table": frozenset(nh3.ALLOWED_ATTRIBUTES.get("table", set())) | {"border"},
    **{f"h{level}": frozenset({"id"}) for level in range(1, 7)},
}
# The cleaner adds rel="noopener noreferrer" to every link itself.
ADDED_BY_CLEANER = {"a": frozenset({"rel"})}
URL_ATTRIBUTES = frozenset({"href", "src", "cite", "action", "formaction", "background", "poster", "srcset",
                            "xlink:href", "longdesc", "usemap", "data"})
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Images may be inline data; nothing else may (a data: link can carry a whole HTML page). An SVG
# shown as an image runs no script (browsers load images without scripts).
IMAGE_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml)[;,]", re.IGNORECASE)
# Characters a browser ignores inside a URL scheme ("java\tscript:" is javascript:).
IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]+")
# A "<" that starts a tag, a closing tag, a comment, a declaration or a processing instruction.
TAG_START = re.compile(r"<[A-Za-z/!?]")


def _allowed_attributes(tag: str) -> frozenset[str]:
    return GENERIC_ATTRIBUTES | ALLOWED_ATTRIBUTES.get(tag, frozenset())


def is_safe_url(tag: str, attribute: str, value: str) -> bool:
    """Whether a URL attribute's value opens nothing but a web page, a mail or an inline image."""
    url = IGNORED_IN_SCHEME.sub("", html.unescape(value)).lower()
    scheme = re.match(r"^([a-z][a-z0-9+.-]*):", url)
    if scheme is None:
        return True  # A relative address (or "#anchor") of the page itself.
    if scheme.group(1) in URL_SCHEMES:
        return True
    return tag == "img" and attribute == "src" and IMAGE_DATA_URL.match(url) is not None


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute in URL_ATTRIBUTES and not is_safe_url(tag, attribute, value):
        return None
    return value


def clean_html(fragment: str) -> str:
    """The fragment with every tag, attribute and URL outside the allow-list removed.

    The content of script and style elements goes with them; other removed tags leave their text.
    """
    attributes = {tag: set(_allowed_attributes(tag)) for tag in ALLOWED_TAGS}
    return nh3.clean(
        str(fragment),
        tags=set(ALLOWED_TAGS),
        attributes=attributes,
        attribute_filter=_attribute_filter,
        url_schemes=set(URL_SCHEMES) | {"data"},
        strip_comments=True,
        link_rel="noopener noreferrer",
    )


class _HarmCheck(HTMLParser):
    """Reads a fragment and lists what the allow-list does not account for."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.problems: list[str] = []

    def _check_tag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
            return
        allowed = _allowed_attributes(tag) | ADDED_BY_CLEANER.get(tag, frozenset())
        for name, value in attributes:
            if name not in allowed:
                self.problems.append(f"attribute {name} of <{tag}>")
            elif name in URL_ATTRIBUTES and not is_safe_url(tag, name, value or ""):
                self.problems.append(f"URL {value!r} in {name} of <{tag}>")

    def handle_starttag(self, tag, attrs):
        self._check_tag(tag, attrs)

    def handle_startendtag(self, tag, attrs):
        self._check_tag(tag, attrs)

    def handle_data(self, data):
        if TAG_START.search(data):
            self.problems.append(f"markup read as text: {data[:80]!r}")

    def handle_comment(self, data):
        self.problems.append("a comment")

    def handle_decl(self, decl):
        self.problems.append(f"a declaration <!{decl[:40]}>")

    def unknown_decl(self, data):
        self.problems.append(f"a declaration <![{data[:40]}>")

    def handle_pi(self, data):
        self.problems.append(f"a processing instruction <?{data[:40]}>")


def html_problems(fragment: str) -> list[str]:
    """What in an HTML fragment the allow-list does not account for (empty when harmless)."""
    checker = _HarmCheck()
    checker.feed(str(fragment))
    checker.close()
    return checker.problems


def is_harmless_html(fragment: str) -> bool:
    """Whether every tag, attribute and URL of the fragment is on the allow-list."""
    return not html_problems(fragment)


def render_markdown(source: str) -> str:
    """A markdown cell as the feedback and formgrader pages render it (nbconvert's renderer)."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(source)


def clean_markdown(source: str) -> str:
    """A markdown source whose rendering is harmless: unchanged when it already is.

    Otherwise the cell becomes its rendering, cleaned (markdown keeps HTML as it is); should even
    that render to something unexpected, the source is shown as plain text.
    """
    source = str(source)
    rendered = render_markdown(source)
    if is_harmless_html(rendered):
        return source
    cleaned = clean_html(rendered)
    if is_harmless_html(render_markdown(cleaned)):
        return cleaned
    return f"<pre>{html.escape(source)}</pre>"
