"""Student notebooks as Colab saves them, for the tests of ``paysages submit`` (no kernel runs)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat

COURSE_NOTEBOOKS = ["00_prise_en_main", "01_separation", "02_cnn"]


def write_student_notebook(path: Path, name: str, *, output: str = "", modified: float | None = None,
                           names: list[str] = COURSE_NOTEBOOKS) -> Path:
    """A notebook of the course (release metadata, one executed code cell printing ``output``)."""
    cell = nbformat.v4.new_code_cell(f"print({output!r})")
    cell.id = "cell-1"  # The same id in every notebook: the merge must renumber them.
    cell.execution_count = 1
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output + "\n")]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"Notebook {name}"), cell])
    notebook.cells[0].id = "intro"
    notebook.metadata["paysages"] = {"assignment": "projet", "notebooks": list(names)}
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    if modified is not None:
        os.utime(path, (modified, modified))
    return Path(path)
