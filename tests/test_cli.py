"""The `paysages` command: data sub-commands as a user runs them (grouped by sub-command)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paysages.cli import main
from tests.helpers.images import bad_file_contents
from tests.helpers.images import noise_image as _noise_image
from tests.helpers.images import png_bytes as _png_bytes
from tests.helpers.images import png_header_claiming as _png_header_claiming
from tests.helpers.images import sixteen_bit_gray as _sixteen_bit_gray
from tests.helpers.split import cross_pairs_from_disk as _cross_pairs_from_disk

SEVEN_CLASSES = ["city", "field", "forest", "lake", "mountain", "ocean", "road"]
REPOSITORY_DIR = Path(__file__).resolve().parents[1]


def _run_paysages(*arguments, cwd_override=None, extra_env=None, **options) -> subprocess.CompletedProcess:
    """Run the real command in a fresh Python process, as a user would type it."""
    return subprocess.run(
        [sys.executable, "-m", "paysages", *arguments],
        capture_output=True,
        text=True,
        cwd=cwd_override or REPOSITORY_DIR,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(extra_env or {})},
        timeout=300,
        **options,
    )


# Every bad-file kind the command must name: file -> (class, section, a phrase of its reason).
VERIFY_BAD_FILES = {
    "corrupt.jpg": ("city", "Skipped", "corrupt"),
    "truncated.jpg": ("city", "Skipped", "truncated (the file ends too early)"),
    "empty.jpg": ("field", "Skipped", "empty file (0 bytes)"),
    "notes.jpg": ("field", "Skipped", "not an image (a text file)"),
    "png_inside.jpg": ("forest", "Converted", "PNG data named .jpg"),
    "gif_inside.jpg": ("forest", "Converted", "GIF data named .jpg"),
    "cmyk.jpg": ("lake", "Converted", "CMYK converted to RGB"),
    "grayscale.jpg": ("lake", "Converted", "grayscale (L) converted to RGB"),
    "transparent.png": ("mountain", "Converted", "RGBA: transparent pixels composited on white"),
    "sixteen_bit_gray.png": ("ocean", "Converted", "16-bit grayscale (I;16) scaled to 8-bit RGB"),
    "sixteen_bit_rgb.png": ("ocean", "Converted", "16-bit RGB reduced to 8-bit"),
    "bomb.png": ("road", "Skipped", "decompression bomb"),
}
# Valid photos per class (class index + 1, so that every class has its own count).
GOOD_COUNTS = {name: index + 1 for index, name in enumerate(SEVEN_CLASSES)}


def _build_verify_folder(root: Path) -> Path:
    """Valid JPEGs in the seven classes, every bad-file kind, Mac/Jupyter clutter, one stray folder."""
    for class_index, class_name in enumerate(SEVEN_CLASSES):
        (root / class_name).mkdir(parents=True)
        for number in range(GOOD_COUNTS[class_name]):
            _noise_image(100 * class_index + number).save(root / class_name / f"good_{number}.jpg", quality=90)
    contents = {
        **bad_file_contents(),
        "sixteen_bit_gray.png": _png_bytes(_sixteen_bit_gray(32_896)),
        # The header claims 30000x30000 pixels: over Pillow's default limit, with no lowering.
        "bomb.png": _png_header_claiming(30_000, 30_000),
    }
    for name, data in contents.items():
        (root / VERIFY_BAD_FILES[name][0] / name).write_bytes(data)
    (root / "__MACOSX" / "city").mkdir(parents=True)
    (root / "__MACOSX" / "city" / "._good_0.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (root / ".DS_Store").write_bytes(b"Bud1\x00\x00")
    (root / "city" / ".DS_Store").write_bytes(b"Bud1")
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "notebook-checkpoint.ipynb").write_text("{}")
    (root / "forest" / ".ipynb_checkpoints").mkdir()
    _noise_image(5).save(root / "forest" / ".ipynb_checkpoints" / "copy.jpg")
    (root / "extra").mkdir()
    _noise_image(999).save(root / "extra" / "stray.jpg")
    return root


def _classes_block(output: str) -> dict[str, int]:
    """Parse the "Classes (...)" block of the report into {class: usable images}."""
    lines = output.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("Classes ("))
    classes = {}
    for line in lines[start + 1:]:
        match = re.fullmatch(r"  (\S+)\s+(\d+) images(?:\s+.*)?", line)
        if match is None:
            break
        classes[match.group(1)] = int(match.group(2))
    return classes


def _section(output: str, title: str) -> list[str]:
    """The indented lines under a section heading such as "Skipped files (3), not used:"."""
    lines = output.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(title))
    body = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        body.append(line.strip())
    return body


class TestDataVerify:
    def test_messy_folder_lists_exactly_seven_classes_and_every_bad_file(self, tmp_path):
        """Does `paysages data verify` list exactly the seven classes, each bad file with its reason, and exit 0?"""
        folder = _build_verify_folder(tmp_path / "landscapes")

        completed = _run_paysages("data", "verify", str(folder))

        output = completed.stdout
        assert completed.returncode == 0, completed.stdout + completed.stderr
        # Exactly the seven classes, in order, each with its usable images (valid + converted).
        converted = {name: 0 for name in SEVEN_CLASSES}
        for class_name, section, _phrase in VERIFY_BAD_FILES.values():
            converted[class_name] += section == "Converted"
        expected = {name: GOOD_COUNTS[name] + converted[name] for name in SEVEN_CLASSES}
        classes = _classes_block(output)
        assert list(classes) == SEVEN_CLASSES
        assert classes == expected
        # Every bad file is named once, in its section, with its reason.
        sections = {"Skipped": _section(output, "Skipped files ("), "Converted": _section(output, "Converted files (")}
        for name, (class_name, section, phrase) in VERIFY_BAD_FILES.items():
            matching = [line for line in sections[section] if line.startswith(f"{class_name}/{name}:")]
            assert len(matching) == 1, f"{name} is not listed under {section}:\n{output}"
            assert phrase in matching[0], f"{name}: reason {phrase!r} missing from {matching[0]!r}"
        assert len(sections["Skipped"]) + len(sections["Converted"]) == len(VERIFY_BAD_FILES)
        # The clutter and the stray folder are ignored with a reason, never counted as classes.
        ignored = _section(output, "Ignored entries (")
        for entry, phrase in {
            "__MACOSX/": "macOS",
            ".DS_Store": "macOS",
            "city/.DS_Store": "macOS",
            ".ipynb_checkpoints/": "Jupyter",
            "forest/.ipynb_checkpoints/": "Jupyter",
            "extra/": "not among the declared classes",
        }.items():
            assert any(line.startswith(f"{entry}:") and phrase in line for line in ignored), entry
        assert "OK: all 7 classes have usable images." in output

    def test_missing_class_exits_non_zero_with_a_message(self, tmp_path, capsys):
        """With a class folder missing, does `data verify` fail and name the class?"""
        for class_name in SEVEN_CLASSES[:-1]:
            (tmp_path / class_name).mkdir()
            images_folder = tmp_path / class_name
            from PIL import Image

            Image.new("RGB", (20, 20), (10, 200, 10)).save(images_folder / "one.jpg")
        status = main(["data", "verify", str(tmp_path)])
        output = capsys.readouterr().out
        assert status != 0 and "road" in output

    def test_missing_folder_exits_non_zero(self, tmp_path, capsys):
        """Is a folder that does not exist reported on one line of stderr instead of crashing?"""
        status = main(["data", "verify", str(tmp_path / "nowhere")])
        captured = capsys.readouterr()
        assert status == 2
        assert captured.err.splitlines() == [f"error: The image folder {tmp_path / 'nowhere'} does not exist or is not a folder."]


class TestDataSampleAndSplit:
    def test_sample_then_split(self, tmp_path, monkeypatch, capsys):
        """Do `data sample` and `data split` write the dataset and a reusable split file?"""
        assert main(["data", "sample", "--out", str(tmp_path / "data" / "sample"), "--per-class", "10"]) == 0
        output = capsys.readouterr().out
        assert "city" in output and (tmp_path / "data" / "sample" / "sample_info.json").is_file()
        monkeypatch.setenv("PAYSAGES_DATA_ROOT", str(tmp_path / "data"))
        monkeypatch.setenv("PAYSAGES_SAMPLE_PER_CLASS", "10")
        assert main(["data", "split", "--run-dir", str(tmp_path / "run"), "--dataset", "sample"]) == 0
        output = capsys.readouterr().out
        assert "validation_share" in output
        header = (tmp_path / "run" / "split.csv").read_text().splitlines()[0]
        assert header == "path,class,subset"
        # The sample images are all different, so the duplicate report says so.
        assert _cross_pairs_from_disk(tmp_path / "run" / "split.csv", tmp_path / "data" / "sample") == set()
        assert "No duplicate file across the split" in output

    def test_split_prints_every_duplicate_pair(self, tmp_path, sample_dataset_dir, monkeypatch, capsys):
        """With exact copies in the dataset, does `data split` print each pair that straddles the split?"""
        dataset_dir = tmp_path / "data" / "landscapes"
        shutil.copytree(sample_dataset_dir, dataset_dir)
        (dataset_dir / "paysages_dataset.json").write_text('{"dataset": "landscapes"}')
        for path in sorted((dataset_dir / "lake").glob("*.jpg")):
            shutil.copyfile(path, path.with_name(f"copy_of_{path.name}"))
        monkeypatch.setenv("PAYSAGES_DATA_ROOT", str(tmp_path / "data"))

        status = main(["data", "split", "--run-dir", str(tmp_path / "run"), "--dataset", "landscapes"])

        output = capsys.readouterr().out
        assert status == 0
        pairs = _cross_pairs_from_disk(tmp_path / "run" / "split.csv", dataset_dir)
        assert pairs, "with every lake image copied, some pair must straddle the split"
        assert f"{len(pairs)} file content(s) lie on both sides of the split" in output
        printed = re.findall(r"^  train: (\S+)  <->  validation: (\S+)$", output, flags=re.MULTILINE)
        assert set(printed) == pairs and len(printed) == len(pairs)

    def test_split_of_a_class_with_one_image_is_a_clear_error(self, tmp_path, monkeypatch, capsys):
        """With one city image only (2 per class on average), does `data split` name the class, without traceback?"""
        monkeypatch.setenv("PAYSAGES_DATA_ROOT", str(tmp_path / "data"))
        monkeypatch.setenv("PAYSAGES_SAMPLE_PER_CLASS", "2")

        status = main(["data", "split", "--run-dir", str(tmp_path / "run"), "--dataset", "sample"])

        captured = capsys.readouterr()
        assert status == 2
        city_images = list((tmp_path / "data" / "sample" / "city").glob("*.jpg"))
        assert len(city_images) == 1
        assert "error:" in captured.err and "city (1)" in captured.err
        assert "Traceback" not in captured.err
        assert not (tmp_path / "run" / "split.csv").exists()

    def test_bad_arguments_are_refused(self, capsys):
        """Is a call without its required --out refused with a one-line message, status 2 (no traceback)?"""
        with pytest.raises(SystemExit, match="^2$"):
            main(["data", "sample"])
        assert capsys.readouterr().err.splitlines() == [
            "paysages data sample: error: the following arguments are required: --out "
            "(see `paysages data sample --help`)"]


def test_help_documents_every_command():
    """In a source checkout, does `paysages --help` list the student and the instructor commands?"""
    completed = subprocess.run([sys.executable, "-m", "paysages", "--help"], capture_output=True, text=True)
    assert completed.returncode == 0
    for command in ("data", "env", "demo", "explore", "release", "collect", "autograde", "feedback", "export", "report", "submit"):
        assert re.search(rf"^\s+{command}\b", completed.stdout, flags=re.MULTILINE), command


# The student wheel has no autograde package: a fresh Python where importing it fails the way it
# fails there (ModuleNotFoundError named "autograde") stands for it.
WITHOUT_AUTOGRADE = """
import sys


class HideAutograde:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "autograde":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, HideAutograde())
from paysages.cli import main

sys.exit(main(sys.argv[1:]))
"""
STUDENT_COMMANDS = ["data", "env", "explore", "submit"]


def _run_without_autograde(*arguments, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_AUTOGRADE, *arguments], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300)


class TestWithoutTheInstructorPackage:
    def test_help_lists_only_the_student_commands(self, tmp_path):
        """Without autograde/, does `paysages --help` list exactly the student commands?"""
        completed = _run_without_autograde("--help", cwd=tmp_path)
        assert completed.returncode == 0, completed.stderr
        listed = re.findall(r"^    (\w+)\s", completed.stdout, flags=re.MULTILINE)
        assert sorted(listed) == STUDENT_COMMANDS

    @pytest.mark.parametrize("command", STUDENT_COMMANDS)
    def test_each_student_command_runs(self, command, tmp_path):
        """Does each student command start and answer --help without the instructor package?"""
        completed = _run_without_autograde(command, "--help", cwd=tmp_path)
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.startswith(f"usage: paysages {command}")

    def test_a_student_command_does_its_work(self, tmp_path):
        """Does `data sample` write a dataset without the instructor package?"""
        completed = _run_without_autograde("data", "sample", "--out", str(tmp_path / "sample"), "--per-class", "2",
                                           cwd=tmp_path)
        assert completed.returncode == 0, completed.stderr
        for class_name in SEVEN_CLASSES:
            assert len(list((tmp_path / "sample" / class_name).glob("*.jpg"))) >= 1, class_name


def _released_looking_course(root: Path) -> Path:
    """A course directory with what `paysages release` leaves that the commands check first."""
    from autograde.layout import CourseLayout

    layout = CourseLayout.create(root)
    import nbformat

    layout.source_dir.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), str(layout.source_dir / "00_toy.ipynb"))
    layout.config_path.write_text("# nbgrader configuration\n", encoding="utf-8")
    return root


# Each sub-command with a bad argument: (arguments, a phrase the one-line message must hold).
# "{tmp}" is the test's temporary folder; "{course}" a course directory released in appearance.
BAD_ARGUMENTS = {
    "paysages": (["--no-such-option"], "the following arguments are required: COMMAND"),
    "data": (["data", "shuffle"], "invalid choice: 'shuffle'"),
    "data sample": (["data", "sample", "--out", "{tmp}/sample", "--per-class", "0"], "per_class must be an integer >= 1, got 0"),
    "data download": (["data", "download", "--root"], "expected one argument"),
    "data verify": (["data", "verify", "{tmp}/nowhere"], "does not exist"),
    "data split": (["data", "split", "--dataset", "imagenet"], "invalid choice: 'imagenet'"),
    "env": (["env", "--verbose"], "unrecognized arguments: --verbose"),
    "explore": (["explore", "{tmp}/nowhere", "--out", "{tmp}/page.html"], "does not exist"),
    "submit": (["submit", "--student-id", "a b", "--out", "{tmp}/rendu.zip"], "'a b'"),
    "release": (["release", "--course-dir", "{tmp}/a-file"], "File exists"),
    "collect": (["collect", "{tmp}", "--course-dir", "{course}", "--pattern", "("], "Invalid submission pattern '('"),
    "collect (missing folder)": (["collect", "{tmp}/nowhere", "--course-dir", "{course}"], "is not a folder"),
    "autograde": (["autograde", "--course-dir", "{course}", "--student", "a b"], "Invalid student id 'a b'"),
    "autograde (not released)": (["autograde", "--course-dir", "{tmp}/empty"], "run `paysages release` first"),
    "autograde (jobs)": (["autograde", "--course-dir", "{course}", "--jobs", "0"], "--jobs must be at least 1, got 0"),
    "feedback": (["feedback", "--course-dir", "{course}", "--student", "a b"], "Invalid student id 'a b'"),
    "export": (["export", "--csv", "{tmp}/grades.csv", "--course-dir", "{tmp}/empty"], "No source notebook"),
    "report": (["report", "--course-dir", "{tmp}/empty"], "No source notebook"),
    "demo": (["demo", "--out", "{tmp}/a-file"], "File exists"),
}


class TestUserErrors:
    def test_autograde_refuses_to_start_where_the_sandbox_cannot_run(self, tmp_path):
        """Without a working bubblewrap, does autograde refuse in one line (status 2), grading nothing?"""
        course = _released_looking_course(tmp_path / "course")
        # An executable that is not bubblewrap: the sandbox probe fails as on a machine without user namespaces.
        completed = _run_paysages("autograde", "--course-dir", str(course), cwd_override=tmp_path,
                                  extra_env={"PAYSAGES_BWRAP": "/bin/false"})
        assert "Traceback" not in completed.stderr
        assert completed.returncode == 2
        lines = completed.stderr.splitlines()
        assert len(lines) == 1, completed.stderr
        assert lines[0].startswith("error: Grading refused: the student's code must run in a sandbox")
        assert "--unsandboxed" in lines[0]
        assert not (course / "grading" / "journal.json").exists()

    def test_the_commands_load_tensorflow_only_to_run_models(self):
        """Do the command modules import without TensorFlow, so a refused argument prints no TF log?

        TensorFlow 2.21 on a CPU with oneDNN writes its start-up lines to stderr whatever
        TF_CPP_MIN_LOG_LEVEL says; only grading (the verdict modules) and the notebooks load it.
        """
        modules = ["paysages.cli", "autograde.cli", "autograde.pipeline", "autograde.demo", "autograde.report",
                   "autograde.publish", "paysages.submit"]
        code = (f"import importlib, sys\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
                "print(sorted(name for name in ('tensorflow', 'keras') if name in sys.modules))")
        completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   cwd=REPOSITORY_DIR, timeout=300)
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.strip() == "[]", completed.stdout + completed.stderr

    @pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
    def test_a_bad_argument_ends_with_one_line_and_a_non_zero_status(self, case, tmp_path):
        """Does each sub-command refuse a bad argument with one line on stderr, status 2, no traceback?"""
        arguments, phrase = BAD_ARGUMENTS[case]
        (tmp_path / "a-file").write_text("not a folder\n", encoding="utf-8")
        course = _released_looking_course(tmp_path / "course")
        arguments = [item.format(tmp=tmp_path, course=course) for item in arguments]
        completed = _run_paysages(*arguments, cwd_override=tmp_path)
        assert "Traceback" not in completed.stderr
        assert completed.returncode == 2
        lines = completed.stderr.splitlines()
        assert len(lines) == 1, completed.stderr
        assert "error: " in lines[0] and phrase in lines[0]
