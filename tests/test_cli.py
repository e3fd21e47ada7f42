"""The `paysages` command: data sub-commands as a user runs them (grouped by sub-command)."""

import re
import subprocess
import sys

import pytest

from paysages import images
from paysages.cli import main
from tests.data.test_images import BAD_FILES, TEST_PIXEL_LIMIT, _build_messy_folder

SEVEN_CLASSES = ["city", "field", "forest", "lake", "mountain", "ocean", "road"]


class TestDataVerify:
    def test_messy_folder_names_every_bad_file_and_exits_zero(self, tmp_path, monkeypatch, capsys):
        """Does `data verify` list the seven real classes, each bad file with its reason, and exit 0?"""
        monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", TEST_PIXEL_LIMIT)
        folder = _build_messy_folder(tmp_path / "landscapes")
        status = main(["data", "verify", str(folder)])
        output = capsys.readouterr().out
        assert status == 0
        listed = re.findall(r"^\s*([a-z_]+)\s+\d+\b", output, flags=re.MULTILINE)
        assert [name for name in listed if name in SEVEN_CLASSES] == SEVEN_CLASSES
        for name, (class_name, action, reason) in BAD_FILES.items():
            line = next((line for line in output.splitlines() if name in line), None)
            assert line is not None, f"{name} is not reported"
            assert reason in line, f"{name}: reason {reason!r} missing from {line!r}"
        for stray in ("__MACOSX", ".DS_Store", ".ipynb_checkpoints", "extra"):
            assert stray in output
        assert not re.search(r"^\s*(extra|__MACOSX)\s+\d+\s*$", output, flags=re.MULTILINE)

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
        """Is a folder that does not exist reported instead of crashing?"""
        status = main(["data", "verify", str(tmp_path / "nowhere")])
        captured = capsys.readouterr()
        assert status != 0
        assert "nowhere" in captured.out + captured.err


class TestDataSampleAndSplit:
    def test_sample_then_split(self, tmp_path, monkeypatch, capsys):
        """Do `data sample` and `data split` write the dataset and a reusable split file?"""
        assert main(["data", "sample", "--out", str(tmp_path / "data" / "sample"), "--per-class", "10"]) == 0
        output = capsys.readouterr().out
        assert "city" in output and (tmp_path / "data" / "sample" / "sample_info.json").is_file()
        monkeypatch.setenv("PAYSAGES_DATA_ROOT", str(tmp_path / "data"))
        monkeypatch.setenv("PAYSAGES_SAMPLE_PER_CLASS", "10")
        assert main(["data", "split", "--run-dir", str(tmp_path / "run"), "--dataset", "sample"]) == 0
        assert "validation_share" in capsys.readouterr().out
        header = (tmp_path / "run" / "split.csv").read_text().splitlines()[0]
        assert header == "path,class,subset"

    def test_bad_arguments_are_refused(self, capsys):
        """Is a call without its required --out refused with a usage message (no traceback)?"""
        with pytest.raises(SystemExit):
            main(["data", "sample"])
        assert "--out" in capsys.readouterr().err


def test_help_documents_every_command():
    """Does `paysages --help` list the data, course and instructor commands?"""
    completed = subprocess.run([sys.executable, "-m", "paysages", "--help"], capture_output=True, text=True)
    assert completed.returncode == 0
    for command in ("data", "env", "demo", "explore", "release", "collect", "autograde", "feedback", "export", "report", "submit"):
        assert re.search(rf"^\s+{command}\b", completed.stdout, flags=re.MULTILINE), command
