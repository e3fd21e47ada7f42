"""``paysages submit`` from Colab: Colab's copy names, the choice among copies, the merged notebook."""

from __future__ import annotations

import json
import zipfile

import nbformat
import pytest

from autograde.collect import Collector
from autograde.layout import CourseLayout
from paysages.colab import mount_drive
from paysages.submit import (
    SubmissionError,
    build_submission,
    course_notebook_name,
    find_notebooks,
    merged_notebook_path,
    submit,
)
from tests.helpers.colab import SimulatedColab
from tests.helpers.submissions import COURSE_NOTEBOOKS, write_student_notebook


@pytest.mark.parametrize("file_name, expected", [
    ("02_cnn.ipynb", "02_cnn"),
    ("Copie de 02_cnn.ipynb", "02_cnn"),
    ("Copy of 02_cnn.ipynb", "02_cnn"),
    ("Copie de 02_cnn (1).ipynb", "02_cnn"),
    ("copy of 02_CNN (2) (1).ipynb", "02_cnn"),
    ("COPIE DE Copie de 02_cnn.IPYNB", "02_cnn"),
    ("02_cnn (3).ipynb", "02_cnn"),
    ("Copie de 09_inconnu.ipynb", None),
    ("Copie de 02_cnn.py", None),
    ("brouillon 02_cnn.ipynb", None),
    ("Untitled0.ipynb", None),
])
def test_course_notebook_name_maps_colab_copies(file_name, expected):
    """Are Colab's prefixes and suffixes, in any letter case, mapped to the course name, and only them?"""
    assert course_notebook_name(file_name, COURSE_NOTEBOOKS) == expected


def test_course_notebook_name_without_a_list_accepts_any_course_shaped_name():
    assert course_notebook_name("Copie de 09_inconnu (1).ipynb") == "09_inconnu"
    assert course_notebook_name("Copie de notes.ipynb") is None


def _all_notebooks(folder, prefix="Copie de ", start=1_700_000_000):
    for index, name in enumerate(COURSE_NOTEBOOKS):
        write_student_notebook(folder / f"{prefix}{name}.ipynb", name, output=f"sortie {name}",
                               modified=start + index)


def test_submit_takes_the_most_recent_copy_and_says_which(tmp_path, capsys):
    """With two copies of one notebook, is the newer sent under the course name, and both named?"""
    folder = tmp_path / "Colab Notebooks"
    _all_notebooks(folder)
    write_student_notebook(folder / "Copie de 02_cnn (1).ipynb", "02_cnn", output="nouvelle", modified=1_800_000_000)
    chosen, ignored = find_notebooks(folder)
    assert chosen["02_cnn"].name == "Copie de 02_cnn (1).ipynb"
    assert [path.name for path in ignored["02_cnn"]] == ["Copie de 02_cnn.ipynb"]

    out = tmp_path / "rendu" / "22001234_rendu.zip"
    manifest = submit("22001234", notebooks_dir=folder, out=out, run_dir=tmp_path / "run")
    printed = capsys.readouterr().out
    assert "02_cnn.ipynb : « Copie de 02_cnn (1).ipynb » envoyé (le plus récent) ; ignoré(s) : « Copie de 02_cnn.ipynb »." in printed
    assert "00_prise_en_main.ipynb : « Copie de 00_prise_en_main.ipynb » envoyé." in printed
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["manifest.json"] + [f"notebooks/{name}.ipynb" for name in COURSE_NOTEBOOKS]
        sent = json.loads(archive.read("notebooks/02_cnn.ipynb"))
    assert "".join(sent["cells"][1]["outputs"][0]["text"]) == "nouvelle\n"
    assert manifest["ignored_copies"] == {"02_cnn": ["Copie de 02_cnn.ipynb"]}


def test_submit_names_a_missing_notebook(tmp_path):
    folder = tmp_path / "Colab Notebooks"
    _all_notebooks(folder)
    (folder / "Copie de 01_separation.ipynb").unlink()
    with pytest.raises(SubmissionError, match=r"manquant.*01_separation\.ipynb"):
        build_submission("22001234", tmp_path / "r.zip", notebooks_dir=folder, run_dir=tmp_path / "run")


def test_merged_notebook_keeps_order_headings_contents_and_outputs(tmp_path):
    """Is rendu.ipynb valid, with a table of contents, then each notebook after its heading, outputs kept?"""
    folder = tmp_path / "notebooks"
    # Written in reverse order, and under mixed names: the merge follows the course order.
    write_student_notebook(folder / "02_cnn.ipynb", "02_cnn", output="sortie 02_cnn")
    write_student_notebook(folder / "Copy of 01_separation.ipynb", "01_separation", output="sortie 01_separation")
    write_student_notebook(folder / "Copie de 00_prise_en_main (1).ipynb", "00_prise_en_main",
                           output="sortie 00_prise_en_main")
    out = tmp_path / "rendu.zip"
    build_submission("22001234", out, notebooks_dir=folder, run_dir=tmp_path / "run")
    merged_path = merged_notebook_path(out)
    assert merged_path.name == "rendu.ipynb"
    merged = nbformat.read(str(merged_path), as_version=4)
    nbformat.validate(merged)
    contents = merged.cells[0]
    assert contents.cell_type == "markdown"
    assert [f"[{name}](#{name})" in contents.source for name in COURSE_NOTEBOOKS] == [True] * 3
    headings = [(index, cell.source) for index, cell in enumerate(merged.cells) if cell.id.endswith("-titre")]
    assert [source.split("# ")[1].splitlines()[0] for _, source in headings] == COURSE_NOTEBOOKS
    assert all(f'<a id="{name}"></a>' in source for (_, source), name in zip(headings, COURSE_NOTEBOOKS))
    outputs = [cell.outputs[0].text for cell in merged.cells if cell.cell_type == "code"]
    assert outputs == [f"sortie {name}\n" for name in COURSE_NOTEBOOKS]
    # Each notebook's cells follow its own heading.
    for (index, _), name in zip(headings, COURSE_NOTEBOOKS):
        assert merged.cells[index + 1].source == f"Notebook {name}"
    assert len({cell.id for cell in merged.cells}) == len(merged.cells)


def test_merged_notebook_refuses_a_file_that_is_not_a_notebook(tmp_path):
    folder = tmp_path / "notebooks"
    _all_notebooks(folder, prefix="")
    (folder / "Copie de 02_cnn (1).ipynb").write_text("pas du json", encoding="utf-8")
    with pytest.raises(SubmissionError, match="illisible"):
        build_submission("22001234", tmp_path / "r.zip", notebooks_dir=folder, run_dir=tmp_path / "run")


def test_submit_in_colab_with_drive_writes_both_files_to_drive(tmp_path, monkeypatch, capsys):
    """Mounted Drive: notebooks read from Colab Notebooks, run folder from Drive, both files on Drive."""
    colab = SimulatedColab(tmp_path)
    colab.install(monkeypatch)
    assert mount_drive() is not None
    _all_notebooks(colab.drive / "Colab Notebooks")
    (colab.kit_folder / "run").mkdir(parents=True)
    (colab.kit_folder / "run" / "split.csv").write_text("path,class,subset\n", encoding="utf-8")
    manifest = submit("22001234")
    rendu = colab.kit_folder / "rendu"
    assert sorted(path.name for path in rendu.iterdir()) == ["22001234_rendu.ipynb", "22001234_rendu.zip"]
    assert [item["path"] for item in manifest["files"] if item["kind"] == "artifact"] == ["run/split.csv"]
    assert colab.calls("download") == []
    assert "Rendu écrit" in capsys.readouterr().out


def test_submit_in_colab_without_drive_downloads_both_files(tmp_path, monkeypatch):
    colab = SimulatedColab(tmp_path)
    colab.install(monkeypatch)
    with pytest.raises(SubmissionError, match="Google Drive n'est pas monté"):
        submit("22001234")
    uploaded = colab.content / "notebooks"
    _all_notebooks(uploaded)
    submit("22001234", notebooks_dir=uploaded)
    downloaded = [call["filename"] for call in colab.calls("download")]
    assert downloaded == [str(colab.content / "rendu" / "22001234_rendu.zip"),
                          str(colab.content / "rendu" / "22001234_rendu.ipynb")]


def test_collect_accepts_colab_copy_names(tmp_path):
    """Does collect map 'Copie de' notebooks, loose (after the student id) or inside a zip?"""
    layout = CourseLayout.create(tmp_path / "course", db_url=f"sqlite:///{tmp_path / 'course' / 'gradebook.db'}")
    inbox = tmp_path / "inbox"
    write_student_notebook(inbox / "22001234_Copie de 02_CNN (1).ipynb", "02_cnn")
    loose = tmp_path / "loose"
    write_student_notebook(loose / "Copy of 00_prise_en_main.ipynb", "00_prise_en_main")
    with zipfile.ZipFile(inbox / "22001234_notebooks.zip", "w") as archive:
        archive.write(loose / "Copy of 00_prise_en_main.ipynb", "Copy of 00_prise_en_main.ipynb")
    report = Collector(layout, COURSE_NOTEBOOKS).collect(inbox)
    collection = report.students["22001234"]
    assert sorted(collection.notebooks) == ["00_prise_en_main", "02_cnn"]
    assert collection.rejected == []
    assert (layout.submitted_dir("22001234") / "02_cnn.ipynb").is_file()
