"""paysages.slides: self-contained reveal.js decks that show as slides with no network."""

import re
from html.parser import HTMLParser

import pytest

from paysages import slides
from tests.bonus.browser import headless_chromium, open_file, wait_until

# A 1x1 transparent PNG, enough to prove that an image inlined as a data URI is shown.
PIXEL_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def _deck(tmp_path):
    deck = [
        slides.Slide("Titre <du> projet", slides.bullet_list_html(["Plan & méthode", "Résultats"])),
        slides.Slide("Courbes", f'<img src="data:image/png;base64,{PIXEL_PNG}" alt="courbe">'),
        slides.Slide("Courbes (suite)", "<p>deuxième figure</p>", vertical=True),
        slides.Slide("Conclusion", "<p>fin</p>"),
    ]
    return slides.write_deck(tmp_path / "deck.slides.html", "Soutenance", deck)


def test_the_deck_loads_nothing_from_a_network(tmp_path):
    """Does the deck hold reveal.js inline, with no src or href pointing at a server?"""
    text = _deck(tmp_path).read_text(encoding="utf-8")
    external = re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text)
    assert external == []
    assert "Reveal.initialize(" in text
    assert "reveal.js 5." in text  # the bundled library's banner
    assert "Titre &lt;du&gt; projet" in text and "Plan &amp; méthode" in text


def _section_tree(text):
    """The deck's slides as nested lists of titles: [title] or [[title, title]] per top-level section."""
    tree, stack = [], []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attributes):
            if tag == "section":
                stack.append([])

        def handle_endtag(self, tag):
            if tag == "section":
                node = stack.pop()
                (stack[-1] if stack else tree).append(node)

        def handle_data(self, data):
            if stack and self.lasttag == "h2" and data.strip():
                stack[-1].append(data.strip())

    Parser().feed(text)
    return tree


def test_later_figures_of_a_section_become_vertical_slides(tmp_path):
    """Is a slide marked vertical nested with the one before it, and the others at top level?"""
    tree = _section_tree(_deck(tmp_path).read_text(encoding="utf-8"))
    assert tree == [["Titre <du> projet"], [["Courbes"], ["Courbes (suite)"]], ["Conclusion"]]


def test_an_empty_deck_is_refused():
    """Is a deck without slides refused with a message saying what came?"""
    with pytest.raises(ValueError, match="at least one slide; got an empty list"):
        slides.render_deck("Soutenance", [])


def test_the_deck_shows_as_slides_in_a_browser_without_network(tmp_path):
    """Offline, does Chromium show one slide at a time (not one long page) and move to the next?"""
    path = _deck(tmp_path)
    with headless_chromium(width=1366, height=768) as driver:
        driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
        open_file(driver, path)
        wait_until(lambda: driver.execute_script("return window.Reveal && Reveal.isReady();"),
                   message="reveal.js to start")
        state = driver.execute_script("""
            return {
                total: Reveal.getTotalSlides(),
                present: document.querySelectorAll('.reveal .slides > section.present').length,
                title: document.querySelector('.reveal .slides section.present h2').textContent,
                pageHeight: document.documentElement.scrollHeight,
                windowHeight: window.innerHeight,
            };
        """)
        assert state["total"] == 4
        assert state["present"] == 1
        assert state["title"] == "Titre <du> projet"
        assert state["pageHeight"] <= state["windowHeight"] + 1
        driver.execute_script("Reveal.right();")
        wait_until(lambda: driver.execute_script("return Reveal.getIndices().h === 1;"), message="the next slide")
        driver.execute_script("Reveal.down();")
        indices = wait_until(lambda: driver.execute_script(
            "const i = Reveal.getIndices(); return i.v === 1 ? i : null;"), message="the vertical slide")
        assert indices["h"] == 1
        shown = driver.execute_script(
            "return document.querySelector('.reveal .slides section.present section.present h2').textContent;")
        assert shown == "Courbes (suite)"


def test_the_defence_deck_is_self_contained(tmp_path):
    """Does the defence pack's deck, built from a run folder, load nothing from a network?"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from paysages.defence import build_defence_pack
    from paysages.runs import RunFolder

    run = RunFolder(tmp_path / "run")
    figure, axis = plt.subplots(figsize=(3, 2))
    axis.plot([0, 1], [1, 0])
    figure.savefig(run.figure_path("02_courbes_cnn.png"), dpi=50)
    plt.close(figure)
    pack = build_defence_pack(run.path, tmp_path / "soutenance", student="Camille Martin")
    text = pack.slides.read_text(encoding="utf-8")
    assert re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text) == []
    assert "Camille Martin" in text
    assert "<h2>Courbes d'apprentissage</h2>" in text
