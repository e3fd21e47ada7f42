"""paysages submit (student side) and paysages collect (instructor side), without grading."""

from __future__ import annotations

import json
import os
import shutil
import warnings
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograde.collect import Collector
from autograde.layout import CourseLayout
from paysages.submit import SubmissionError, build_submission
from tests.helpers.archives import damaged_zip, jpeg_bytes, lying_zip_bomb, write_zip

GOLDEN_DIR = Path(__file__).with_name("golden")
NOTEBOOK_NAMES = ["00_prise_en_main", "01_separation", "02_cnn"]


def _notebook(names=NOTEBOOK_NAMES, text="print('bonjour')"):
    cell = nbformat.v4.new_code_cell(text)
    cell.id = "cell-1"  # Fixed, so that the golden report's hashes do not change.
    notebook = nbformat.v4.new_notebook(cells=[cell])
    notebook.metadata["paysages"] = {"assignment": "projet", "notebooks": list(names)}
    return notebook


@pytest.fixture
def layout(tmp_path) -> CourseLayout:
    return CourseLayout.create(tmp_path / "course", db_url=f"sqlite:///{tmp_path / 'course' / 'gradebook.db'}")


@pytest.fixture
def student_folder(tmp_path) -> Path:
    folder = tmp_path / "student"
    (folder / "paysages_run" / "models").mkdir(parents=True)
    (folder / "paysages_run" / "backup" / "cnn").mkdir(parents=True)
    for name in NOTEBOOK_NAMES:
        nbformat.write(_notebook(), str(folder / f"{name}.ipynb"))
    (folder / "paysages_run" / "split.csv").write_text("path,class,subset\n", encoding="utf-8")
    (folder / "paysages_run" / "models" / "cnn.keras").write_bytes(b"model bytes")
    (folder / "paysages_run" / "backup" / "cnn" / "chkpt.weights.h5").write_bytes(b"backup")
    (folder / "paysages_run" / "notes.py").write_text("print('code')\n", encoding="utf-8")
    return folder


def test_submit_packs_notebooks_run_data_and_a_verifiable_manifest(student_folder, tmp_path):
    """Does the zip list every file with its SHA-256 and size, and leave out code and backups?"""
    out = tmp_path / "22001234_rendu.zip"
    manifest = build_submission("22001234", out, notebooks_dir=student_folder)
    with zipfile.ZipFile(out) as archive:
        names = sorted(archive.namelist())
        stored = json.loads(archive.read("manifest.json"))
    assert names == ["manifest.json", "notebooks/00_prise_en_main.ipynb", "notebooks/01_separation.ipynb",
                     "notebooks/02_cnn.ipynb", "run/models/cnn.keras", "run/split.csv"]
    assert stored == manifest
    assert manifest["student_id"] == "22001234" and manifest["assignment"] == "projet"
    assert all(len(item["sha256"]) == 64 and item["size"] > 0 for item in manifest["files"])


def test_submit_refuses_missing_notebooks_in_french(student_folder, tmp_path):
    """Is a missing notebook refused with a French message naming it (unless allowed)?"""
    (student_folder / "02_cnn.ipynb").unlink()
    with pytest.raises(SubmissionError, match=r"manquant.*02_cnn\.ipynb"):
        build_submission("22001234", tmp_path / "out.zip", notebooks_dir=student_folder)
    manifest = build_submission("22001234", tmp_path / "out.zip", notebooks_dir=student_folder, allow_missing=True)
    assert manifest["missing_notebooks"] == ["02_cnn"]


def test_submit_caps_the_run_folder_size(student_folder, tmp_path):
    """Is an oversized run folder refused with the largest files named?"""
    (student_folder / "paysages_run" / "models" / "huge.keras").write_bytes(b"\0" * 2_000_000)
    with pytest.raises(SubmissionError, match="huge.keras"):
        build_submission("22001234", tmp_path / "out.zip", notebooks_dir=student_folder, max_artifact_megabytes=1)


@pytest.mark.parametrize("student_id", ["", "a b", "../x", "a_b", "x" * 65])
def test_submit_refuses_unsafe_student_ids(student_folder, tmp_path, student_id):
    """Is an identifier that could not name a file or be matched by collect refused?"""
    with pytest.raises(SubmissionError, match="Identifiant"):
        build_submission(student_id, tmp_path / "out.zip", notebooks_dir=student_folder)


def _collect(layout, folder):
    return Collector(layout, NOTEBOOK_NAMES).collect(folder)


def test_collect_round_trip_of_a_submit_zip(layout, student_folder, tmp_path):
    """Does collect accept a `paysages submit` zip: notebooks to submitted/, data to student_run/?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    build_submission("22001234", inbox / "22001234_rendu.zip", notebooks_dir=student_folder)
    report = _collect(layout, inbox)
    collection = report.students["22001234"]
    assert collection.rejected == [] and sorted(collection.notebooks) == NOTEBOOK_NAMES
    assert sorted(path.name for path in layout.submitted_dir("22001234").iterdir()) == sorted(
        [f"{name}.ipynb" for name in NOTEBOOK_NAMES] + ["timestamp.txt"])
    assert (layout.collected_dir("22001234") / "student_run" / "models" / "cnn.keras").read_bytes() == b"model bytes"


def test_collect_rejects_files_that_differ_from_the_manifest(layout, student_folder, tmp_path):
    """Is a corrupted member (hash mismatch) and an unlisted member rejected and reported?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = tmp_path / "good.zip"
    build_submission("22001234", good, notebooks_dir=student_folder)
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(inbox / "22001234_rendu.zip", "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "run/split.csv":
                data = b"tampered\n"
            target.writestr(info, data)
        target.writestr("notebooks/extra.txt", "hello")
    collection = _collect(layout, inbox).students["22001234"]
    reasons = {item["file"].split(":", 1)[1]: item["reason"] for item in collection.rejected}
    assert "SHA-256" in reasons["run/split.csv"]
    assert "not listed" in reasons["notebooks/extra.txt"]
    assert sorted(collection.notebooks) == NOTEBOOK_NAMES


def test_collect_extracts_safely_and_rejects_code(layout, tmp_path):
    """Are zip-slip paths, links, code files and unknown notebooks rejected, nothing written outside?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with zipfile.ZipFile(inbox / "alice_lms.zip", "w") as archive:
        archive.writestr("00_prise_en_main.ipynb", nbformat.writes(_notebook()))
        archive.writestr("../../outside.txt", "escape")
        archive.writestr("/etc/evil.json", "{}")
        archive.writestr("numpy.py", "x = 1")
        archive.writestr("run/sitecustomize.py", "x = 1")
        archive.writestr("run/a.pth", "import os")
        archive.writestr("run/history.json", "{}")
        archive.writestr("03_unknown.ipynb", nbformat.writes(_notebook()))
        link = zipfile.ZipInfo("run/link.json")
        link.external_attr = (0o120777 << 16)
        archive.writestr(link, "/etc/passwd")
    collection = _collect(layout, inbox).students["alice"]
    rejected = {item["file"].split(":", 1)[1] for item in collection.rejected}
    assert rejected == {"../../outside.txt", "/etc/evil.json", "numpy.py", "run/sitecustomize.py", "run/a.pth",
                        "03_unknown.ipynb", "run/link.json"}
    assert collection.artifacts == ["history.json"]
    assert not (tmp_path / "outside.txt").exists() and not list(tmp_path.rglob("outside.txt"))
    assert not list(layout.root.rglob("*.py")) and not list(layout.root.rglob("*.pth"))


def test_collect_limits_archive_size_and_member_count(layout, tmp_path):
    """Is a zip bomb (too big once extracted, or too many members) refused whole?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with zipfile.ZipFile(inbox / "bob_bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("run/zeros.json", b"0" * 5_000_000)
    with zipfile.ZipFile(inbox / "carol_many.zip", "w") as archive:
        for index in range(30):
            archive.writestr(f"run/file{index}.json", "{}")
    report = Collector(layout, NOTEBOOK_NAMES, max_total_bytes=1_000_000, max_members=20).collect(inbox)
    assert "bytes once extracted" in report.students["bob"].rejected[0]["reason"]
    assert "more than 20 files" in report.students["carol"].rejected[0]["reason"]


def test_collect_matches_lms_names_and_reports_the_rest(layout, tmp_path):
    """Does the default pattern read '<id>_<anything>' and report names it cannot use?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    nbformat.write(_notebook(), str(inbox / "22001234_00_prise_en_main (1).ipynb"))
    nbformat.write(_notebook(), str(inbox / "22001234_01_separation.ipynb"))
    nbformat.write(_notebook(), str(inbox / "22001234_notes.ipynb"))
    (inbox / "22001234_broken_02_cnn.ipynb").write_text("not json", encoding="utf-8")
    (inbox / "nounderscore.ipynb").write_text("{}", encoding="utf-8")
    (inbox / "22001234_report.pdf").write_bytes(b"%PDF")
    report = _collect(layout, inbox)
    collection = report.students["22001234"]
    assert sorted(collection.notebooks) == ["00_prise_en_main", "01_separation"]
    reasons = {item["file"]: item["reason"] for item in collection.rejected}
    assert "no course notebook name" in reasons["22001234_notes.ipynb"]
    assert "not a readable notebook" in reasons["22001234_broken_02_cnn.ipynb"]
    unmatched = {item["file"]: item["reason"] for item in report.unmatched}
    assert unmatched["nounderscore.ipynb"] == "the name matches no student id"
    assert unmatched["22001234_report.pdf"].startswith("neither a notebook nor a zip")


def test_collect_pattern_is_configurable(layout, tmp_path):
    """Can an instructor describe another export layout with a (?P<student>...) group?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    nbformat.write(_notebook(), str(inbox / "rendu-00_prise_en_main-alice.ipynb"))
    report = Collector(layout, NOTEBOOK_NAMES, pattern=r"^rendu-.+-(?P<student>\w+)\.ipynb$").collect(inbox)
    assert list(report.students) == ["alice"]
    with pytest.raises(ValueError, match="student"):
        Collector(layout, NOTEBOOK_NAMES, pattern=r"^(?P<name>.+)$")


def test_collect_report_golden(layout, student_folder, tmp_path):
    """Is the collect report of a fixed inbox exactly the golden one?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    nbformat.write(_notebook(text="x = 1"), str(inbox / "alice_00_prise_en_main.ipynb"))
    with zipfile.ZipFile(inbox / "bob_rendu.zip", "w") as archive:
        archive.writestr("notebooks/01_separation.ipynb", nbformat.writes(_notebook(text="y = 2")))
        archive.writestr("keras.py", "raise SystemExit")
        archive.writestr("run/history.json", "{}")
    (inbox / "stray.txt").write_text("?", encoding="utf-8")
    report = _collect(layout, inbox).to_dict()
    golden = GOLDEN_DIR / "collect_report.json"
    if os.environ.get("PAYSAGES_UPDATE_GOLDENS") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert report == json.loads(golden.read_text(encoding="utf-8"))
    shutil.rmtree(layout.root)


def test_collect_reports_an_unsafe_student_id_and_goes_on(layout, tmp_path):
    """Is 'a..b_x.ipynb' (matches the pattern, unsafe as a folder) reported while the others are collected?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    nbformat.write(_notebook(), str(inbox / "a..b_00_prise_en_main.ipynb"))
    nbformat.write(_notebook(), str(inbox / "alice_00_prise_en_main.ipynb"))
    report = _collect(layout, inbox)
    assert list(report.students) == ["alice"]
    unmatched = {item["file"]: item["reason"] for item in report.unmatched}
    assert unmatched["a..b_00_prise_en_main.ipynb"].startswith("unsafe student id: Invalid student id 'a..b'")
    written = json.loads((layout.grading_dir / "collect_report.json").read_text(encoding="utf-8"))
    assert written["unmatched"] == report.unmatched and "alice" in written["students"]
    assert not (layout.root / "collected" / "a..b").exists()


def test_collect_drops_hdf5_models_and_pickles(layout, tmp_path):
    """Are .h5/.hdf5 models and pickles dropped from the run files, each with its reason?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with zipfile.ZipFile(inbox / "alice_rendu.zip", "w") as archive:
        archive.writestr("notebooks/00_prise_en_main.ipynb", nbformat.writes(_notebook()))
        for member in ("run/models/cnn.h5", "run/models/old.hdf5", "run/history.pkl", "run/scaler.joblib",
                       "run/models/cnn.keras"):
            archive.writestr(member, b"data")
    (inbox / "alice_model.h5").write_bytes(b"data")
    report = _collect(layout, inbox)
    collection = report.students["alice"]
    reasons = {item["file"]: item["reason"] for item in collection.rejected}
    assert set(reasons) == {"alice_rendu.zip:run/models/cnn.h5", "alice_rendu.zip:run/models/old.hdf5",
                            "alice_rendu.zip:run/history.pkl", "alice_rendu.zip:run/scaler.joblib"}
    assert [item["file"] for item in report.unmatched] == ["alice_model.h5"]  # Not a submission file at all.
    assert all("can run code when loaded" in reason for reason in reasons.values())
    assert collection.artifacts == ["models/cnn.keras"]
    assert not list(layout.collected_dir("alice").joinpath("student_run").rglob("*.h5"))


def _reasons(collection) -> dict[str, str]:
    return {item["file"]: item["reason"] for item in collection.rejected}


def test_collect_caps_the_total_of_all_a_students_archives(layout, tmp_path):
    """Do ten archives, each under the per-archive cap, stop at the student's total, the next student kept?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for index in range(10):
        write_zip(inbox / f"alice_part{index}.zip", {f"run/history{index}.json": b"1" * 900})
    nbformat.write(_notebook(), str(inbox / "bob_00_prise_en_main.ipynb"))
    report = Collector(layout, NOTEBOOK_NAMES, max_total_bytes=1000, max_student_bytes=3000).collect(inbox)
    alice = report.students["alice"]
    assert alice.artifacts == ["history0.json", "history1.json", "history2.json"]
    reasons = _reasons(alice)
    assert sorted(reasons) == [f"alice_part{index}.zip:run/history{index}.json" for index in range(3, 10)]
    assert all(reason == "skipped: this student's files exceed 3000 bytes in total once extracted"
               for reason in reasons.values())
    assert len(alice.sources) == 10  # Every file is listed, and kept in collected/alice/original/.
    assert len(list((layout.collected_dir("alice") / "original").iterdir())) == 10
    assert sorted(path.name for path in (layout.collected_dir("alice") / "student_run").iterdir()) == alice.artifacts
    assert report.students["bob"].notebooks and report.students["bob"].rejected == []


def test_collect_stops_a_zip_bomb_whose_index_lies(layout, tmp_path):
    """Is a member that inflates far beyond its declared size rejected, by student and file, the next kept?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "alice_rendu.zip").write_bytes(lying_zip_bomb("run/history.json", real_size=20_000_000,
                                                           declared_size=1000))
    nbformat.write(_notebook(), str(inbox / "bob_00_prise_en_main.ipynb"))
    report = _collect(layout, inbox)
    reasons = _reasons(report.students["alice"])
    assert list(reasons) == ["alice_rendu.zip:run/history.json"]
    assert reasons["alice_rendu.zip:run/history.json"].startswith("unreadable member (BadZipFile: Bad CRC-32")
    assert report.students["alice"].artifacts == []
    assert not (layout.collected_dir("alice") / "student_run").exists()
    assert "00_prise_en_main" in report.students["bob"].notebooks
    assert "REJECTED alice_rendu.zip:run/history.json: unreadable member" in report.format()


def test_collect_skips_clashing_run_paths(layout, tmp_path):
    """Are a repeated path, a letter-case twin and a file/folder clash skipped and named, the first kept?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate name.
        with zipfile.ZipFile(inbox / "alice_a.zip", "w") as archive:
            archive.writestr("run/history.json", "{}")
            archive.writestr("run/history.json", '{"second": 1}')
            archive.writestr("paysages_run/history.json", "{}")
            archive.writestr("run/Model.json", "{}")
            archive.writestr("run/model.json", "{}")
            archive.writestr("run/plots.png/loss.png", b"png")
            archive.writestr("run/plots.png", b"png")
            archive.writestr("run/scores.csv", "a,b\n")
            archive.writestr("run/scores.csv/detail.csv", "a,b\n")
    write_zip(inbox / "alice_b.zip", {"run/HISTORY.JSON": b"{}", "run/other.json": b"{}"})
    nbformat.write(_notebook(), str(inbox / "bob_00_prise_en_main.ipynb"))
    report = _collect(layout, inbox)
    alice = report.students["alice"]
    assert alice.artifacts == ["history.json", "Model.json", "plots.png/loss.png", "scores.csv", "other.json"]
    reasons = [(item["file"], item["reason"]) for item in alice.rejected]
    assert reasons == [
        ("alice_a.zip:run/history.json", "skipped: run file history.json was already sent (the first copy is kept)"),
        ("alice_a.zip:paysages_run/history.json",
         "skipped: run file history.json was already sent (the first copy is kept)"),
        ("alice_a.zip:run/model.json", "skipped: clashes with run file Model.json (the same name in another letter case)"),
        ("alice_a.zip:run/plots.png", "skipped: plots.png is a folder of other run files"),
        ("alice_a.zip:run/scores.csv/detail.csv", "skipped: its folder scores.csv clashes with run file scores.csv"),
        ("alice_b.zip:run/HISTORY.JSON",
         "skipped: clashes with run file history.json (the same name in another letter case)"),
    ]
    run_dir = layout.collected_dir("alice") / "student_run"
    assert (run_dir / "history.json").read_text(encoding="utf-8") == "{}"
    assert (run_dir / "plots.png" / "loss.png").is_file() and (run_dir / "scores.csv").is_file()
    assert "00_prise_en_main" in report.students["bob"].notebooks


def test_collect_skips_over_long_names_and_archive_metadata(layout, tmp_path):
    """Are a 300-byte name, a 600-byte path and __MACOSX skipped and named, collection going on?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    long_name = "é" * 150 + ".json"  # 150 characters, 305 bytes.
    deep_path = "run/" + "/".join(["d" * 100] * 6) + "/h.json"
    write_zip(inbox / "alice_rendu.zip", {
        f"run/{long_name}": b"{}",
        deep_path: b"{}",
        "__MACOSX/run/._history.json": b"\x00\x05\x16\x07",
        "notebooks/00_prise_en_main.ipynb": nbformat.writes(_notebook()).encode("utf-8"),
    })
    nbformat.write(_notebook(), str(inbox / "bob_00_prise_en_main.ipynb"))
    report = _collect(layout, inbox)
    alice = report.students["alice"]
    reasons = _reasons(alice)
    assert reasons[f"alice_rendu.zip:run/{long_name}"] == "file or folder name too long (305 bytes, at most 255)"
    shown_deep = next(name for name in reasons if name.startswith("alice_rendu.zip:run/ddd"))
    assert shown_deep.endswith(f"... ({len(deep_path)} bytes)") and len(shown_deep) < 300
    assert reasons[shown_deep] == f"path too long ({len(deep_path)} bytes, at most 512)"
    assert reasons["alice_rendu.zip:__MACOSX/run/._history.json"].startswith("archiving tool metadata")
    assert alice.notebooks and alice.artifacts == []
    assert "00_prise_en_main" in report.students["bob"].notebooks


def test_collect_reports_a_damaged_archive_and_a_fifo_and_goes_on(layout, tmp_path):
    """Do a member with flipped bytes and a named pipe in the inbox leave the next student collected?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "alice_rendu.zip").write_bytes(damaged_zip({("city", "1.jpg"): jpeg_bytes(1)}))
    os.mkfifo(inbox / "alice_pipe.ipynb")
    nbformat.write(_notebook(), str(inbox / "bob_00_prise_en_main.ipynb"))
    report = _collect(layout, inbox)
    assert list(_reasons(report.students["alice"])) == ["alice_rendu.zip:city/1.jpg"]
    assert _reasons(report.students["alice"])["alice_rendu.zip:city/1.jpg"].startswith("unreadable member")
    assert {"file": "alice_pipe.ipynb", "reason": "not a regular file"} in report.unmatched
    assert "00_prise_en_main" in report.students["bob"].notebooks


def test_collect_reports_a_forged_manifest_and_goes_on(layout, tmp_path):
    """Does a manifest with a size that is no number, or entries that are no objects, stop only its own files?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    notebook = nbformat.writes(_notebook()).encode("utf-8")
    write_zip(inbox / "alice_rendu.zip", {
        "manifest.json": json.dumps({"student_id": "alice", "files": [
            {"path": "notebooks/00_prise_en_main.ipynb", "size": "many", "sha256": "0" * 64}]}).encode(),
        "notebooks/00_prise_en_main.ipynb": notebook,
    })
    write_zip(inbox / "bob_rendu.zip", {"manifest.json": b'{"files": ["notebooks/00_prise_en_main.ipynb"]}',
                                        "notebooks/00_prise_en_main.ipynb": notebook})
    nbformat.write(_notebook(), str(inbox / "carol_00_prise_en_main.ipynb"))
    report = _collect(layout, inbox)
    assert _reasons(report.students["alice"]) == {
        "alice_rendu.zip:notebooks/00_prise_en_main.ipynb": "SHA-256 or size differs from the manifest (corrupt upload?)"}
    assert _reasons(report.students["bob"]) == {"bob_rendu.zip:manifest.json": "unreadable manifest: archive ignored"}
    assert "00_prise_en_main" in report.students["carol"].notebooks


@pytest.mark.parametrize("limit", ["max_members", "max_total_bytes", "max_student_bytes", "max_notebook_bytes"])
def test_collect_refuses_a_limit_that_is_not_a_positive_integer(layout, limit):
    """Is a zero or fractional cap refused up front, naming the option?"""
    with pytest.raises(ValueError, match=rf"{limit} must be a positive integer, got 0"):
        Collector(layout, NOTEBOOK_NAMES, **{limit: 0})
    with pytest.raises(ValueError, match=rf"{limit} must be a positive integer, got 1.5"):
        Collector(layout, NOTEBOOK_NAMES, **{limit: 1.5})
