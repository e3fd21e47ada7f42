"""The data part of `make demo` (generate, verify, split, load), checked against the files on disk."""

import re
from collections import Counter

import pandas as pd

from autograde.demo import run_data_steps

CLASS_NAMES = ("city", "field", "forest", "lake", "mountain", "ocean", "road")


def _lines_after(output: str, heading: str) -> list[str]:
    lines = output.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(heading))
    return lines[start + 1:]


def test_demo_data_steps_print_every_class_and_the_split_found_on_disk(tmp_path, capsys):
    """Does the demo print each class with its image count and the per-class split, as on disk?"""
    settings = run_data_steps(tmp_path, sample_per_class=6)

    output = capsys.readouterr().out
    dataset_dir = tmp_path / "datasets" / "sample"
    assert settings.dataset_dir == dataset_dir and settings.sample_per_class == 6

    # 2. Verify: every class with the number of images its folder holds.
    on_disk = {name: len(list((dataset_dir / name).glob("*.jpg"))) for name in CLASS_NAMES}
    assert all(count > 0 for count in on_disk.values())
    verify_lines = _lines_after(output, "-- 2. Verify it")
    for name, count in on_disk.items():
        assert any(re.fullmatch(rf"  {name}\s+{count} images", line) for line in verify_lines), name

    # 3. Split: the printed table is the split file's, and each class sums to its folder's count.
    split = pd.read_csv(tmp_path / "data-check" / "split.csv")
    train = Counter(split.loc[split["subset"] == "train", "class"])
    validation = Counter(split.loc[split["subset"] == "validation", "class"])
    assert set(split["class"]) == set(CLASS_NAMES)
    printed = {}
    for line in _lines_after(output, "-- 3. Split it once"):
        if line.startswith("--"):
            break
        match = re.fullmatch(r"(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)", line)
        if match is not None:
            printed[match.group(1)] = tuple(int(value) for value in match.group(2, 3, 4))
    assert list(printed) == list(CLASS_NAMES)
    for name in CLASS_NAMES:
        assert printed[name] == (train[name], validation[name], on_disk[name])
        assert train[name] + validation[name] == on_disk[name]
        assert validation[name] >= 1 and abs(validation[name] - 0.2 * on_disk[name]) <= 1

    # 4. Load: the arrays hold the split's train and validation images.
    describe = _lines_after(output, "-- 4. Load the arrays")[0]
    total_train, total_validation = sum(train.values()), sum(validation.values())
    assert describe.startswith(f"train: {total_train} images, validation: {total_validation} images")
    assert total_train + total_validation == sum(on_disk.values())
