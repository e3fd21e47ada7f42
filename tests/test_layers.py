"""The layers of the repository, read from the import statements (ARCHITECTURE.md), and the
tests' own code, read the same way: every ``pytest.raises`` says which error it expects."""

from __future__ import annotations

import textwrap

import pytest

from tests.helpers.imports import import_cycles, import_graph
from tests.helpers.raises import ALLOWED_WITHOUT_MATCH, raises_without_match, raises_without_match_in_source


@pytest.fixture(scope="module")
def graph(repository_dir):
    return import_graph(repository_dir)


def test_the_student_package_imports_nothing_outside_itself(graph):
    """Does every module under paysages/ import only paysages modules (never autograde or solutions)?"""
    reaching_up = {module: sorted(name for name in imported if not name.startswith("paysages"))
                   for module, imported in graph.items() if module.startswith("paysages")}
    assert {module: names for module, names in reaching_up.items() if names} == {}


def test_the_reference_never_imports_the_instructor_package(graph):
    """Does solutions/ (copied into notebooks and hidden tests) stay free of autograde imports?"""
    offending = {module: sorted(name for name in imported if name.startswith("autograde"))
                 for module, imported in graph.items() if module.startswith("solutions")}
    assert {module: names for module, names in offending.items() if names} == {}


def test_no_import_circle_anywhere(graph):
    """Is the import graph of paysages/, autograde/ and solutions/ free of circles (lazy imports included)?"""
    assert import_cycles(graph) == []


def test_the_circle_finder_finds_a_circle():
    """Does the check itself see a circle of two modules (so that an empty answer means something)?"""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert import_cycles(graph) == [["a", "b"]]


def test_every_pytest_raises_names_the_message_it_expects(repository_dir):
    """Does every pytest.raises(...) of tests/ (with item or plain call) carry match=, bar the allowed ones?"""
    unmatched = raises_without_match(repository_dir)
    assert [site for site in unmatched if site not in ALLOWED_WITHOUT_MATCH] == []
    # An allowed site that now has match= (or has moved) is a stale entry: it must go.
    assert sorted(site for site in ALLOWED_WITHOUT_MATCH if site not in unmatched) == []
    assert all(reason.strip() for reason in ALLOWED_WITHOUT_MATCH.values())


def test_the_raises_checker_sees_every_form():
    """Does the check itself see a with item, a plain call, an alias and match=None (so an empty answer means something)?"""
    source = textwrap.dedent('''
        import pytest
        import pytest as pt
        from pytest import raises, raises as expect

        def test_forms():
            with pytest.raises(ValueError):
                pass
            with pytest.raises(ValueError, match="named"), pt.raises(KeyError):
                pass
            pytest.raises(TypeError, int, "x")
            raises(OSError)
            with expect(OSError, match=None):
                pass
            with expect(OSError, match="ok"):
                pass
            other.raises(ValueError)
    ''')
    assert raises_without_match_in_source(source) == [7, 9, 11, 12, 13]
