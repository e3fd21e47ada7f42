"""Self-contained reveal.js slide decks that work offline.

A deck is one HTML file with reveal.js, its style sheet and theme inlined from the copy bundled in
``paysages/vendor/revealjs/`` (see its README). It needs no network, so the defence deck shows as
slides, not as one long page, in an exam room without internet access.
"""

from __future__ import annotations

import dataclasses
import html
import json
from importlib import resources
from pathlib import Path

from paysages.files import write_text_atomic

REVEAL_FILES = ("reveal.css", "white.css", "reveal.js")
# The size of the slide canvas reveal.js scales to the screen (a 16:10 laptop fits it).
SLIDE_WIDTH = 1280
SLIDE_HEIGHT = 800


@dataclasses.dataclass(frozen=True)
class Slide:
    """One slide: a title, an HTML body (already escaped where it holds text) and a nesting flag.

    A slide with ``vertical=True`` is placed below the previous one (a reveal.js vertical slide),
    for the second and later figures of one section.
    """

    title: str
    body_html: str = ""
    vertical: bool = False


def text_html(text: str) -> str:
    """Escape plain text for a slide body."""
    return html.escape(text, quote=False)


def bullet_list_html(items) -> str:
    """An HTML bullet list of plain-text items."""
    entries = "".join(f"<li>{text_html(item)}</li>" for item in items)
    return f"<ul>{entries}</ul>"


def _vendored_text(name: str) -> str:
    return resources.files("paysages.vendor").joinpath("revealjs", name).read_text(encoding="utf-8")


def _inline_script(source: str) -> str:
    # A literal "</script" inside the code would end the element early.
    return source.replace("</script", "<\\/script")


def _section_html(slide: Slide) -> str:
    return f"<section>\n<h2>{text_html(slide.title)}</h2>\n{slide.body_html}\n</section>"


def _slides_html(slides: list[Slide]) -> str:
    groups: list[list[Slide]] = []
    for slide in slides:
        if slide.vertical and groups:
            groups[-1].append(slide)
        else:
            groups.append([slide])
    parts = []
    for group in groups:
        if len(group) == 1:
            parts.append(_section_html(group[0]))
        else:
            inner = "\n".join(_section_html(slide) for slide in group)
            parts.append(f"<section>\n{inner}\n</section>")
    return "\n".join(parts)


def render_deck(title: str, slides: list[Slide], *, language: str = "fr") -> str:
    """Return the HTML of a deck whose first slide is ``slides[0]``; nothing is loaded from a network."""
    if not slides:
        raise ValueError("A deck needs at least one slide; got an empty list.")
    reveal_css, theme_css, reveal_js = (_vendored_text(name) for name in REVEAL_FILES)
    options = json.dumps({
        "hash": True,
        "controls": True,
        "progress": True,
        "slideNumber": "c/t",
        "width": SLIDE_WIDTH,
        "height": SLIDE_HEIGHT,
        "transition": "slide",
    })
    return f"""<!DOCTYPE html>
<html lang="{html.escape(language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{text_html(title)}</title>
<style>{reveal_css}</style>
<style>{theme_css}</style>
<style>
.reveal h2 {{ font-size: 1.4em; }}
.reveal ul {{ font-size: 0.75em; }}
.reveal img {{ max-height: 58vh; max-width: 100%; }}
.reveal .missing {{ color: #a40000; font-style: italic; }}
</style>
</head>
<body>
<div class="reveal">
<div class="slides">
{_slides_html(slides)}
</div>
</div>
<script>{_inline_script(reveal_js)}</script>
<script>Reveal.initialize({options});</script>
</body>
</html>
"""


def write_deck(path: Path | str, title: str, slides: list[Slide], *, language: str = "fr") -> Path:
    """Write a self-contained deck to ``path`` (at once: never half a file) and return the path."""
    return write_text_atomic(path, render_deck(title, slides, language=language))
