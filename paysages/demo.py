"""``make demo``: the kit end to end on the embedded sample dataset, in fast mode."""

from __future__ import annotations

import os
from pathlib import Path

from paysages.settings import get_settings


def run_demo(out_dir: Path) -> int:
    """Generate, verify, split and load the sample dataset; print class counts and split sizes."""
    from paysages.data import ensure_dataset, load_split_arrays, prepare_split
    from paysages.images import verify_image_folder
    from paysages.registry import get_dataset_spec
    from paysages.split import split_summary

    out_dir = Path(out_dir).resolve()
    settings = get_settings(
        "fast",
        environ={},
        dataset="sample",
        data_root=out_dir / "datasets",
        run_dir=out_dir / "run",
    )
    print("== paysages demo (fast mode, embedded sample dataset) ==")
    print(settings.describe())

    print("\n-- 1. Generate the sample dataset")
    dataset_dir = ensure_dataset(settings)

    print("\n-- 2. Verify it")
    report = verify_image_folder(dataset_dir, get_dataset_spec("sample").class_names)
    print(report.format())
    if not report.ok:
        return 1

    print("\n-- 3. Split it once (stratified 80/20)")
    frame = prepare_split(settings, overwrite=True)
    print(split_summary(frame).to_string())

    print("\n-- 4. Load the arrays through the split file")
    arrays = load_split_arrays(settings)
    print(arrays.describe())
    os.makedirs(out_dir, exist_ok=True)
    return 0
