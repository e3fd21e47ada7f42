"""Edits of a pandas table, for the tests that hand a verdict a table that is wrong in one place."""

from __future__ import annotations


def with_cell(column: str, row: int, value):
    """A function that returns a copy of its table with ``value`` at (``row``, ``column``)."""
    def edit(table):
        table = table.copy()
        table.loc[row, column] = value
        return table

    return edit
