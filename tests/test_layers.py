"""The layers of the repository, read from the import statements (ARCHITECTURE.md)."""

from __future__ import annotations

import pytest

from tests.helpers.imports import import_cycles, import_graph


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
