"""The data side of the student package: get a dataset, check it, decode it once, split it.

Notebooks and commands use the names below (from :mod:`paysages.data.access`, and the
image loader and folder check). The modules
behind them, one job each, in the order a photo goes through them:

* getting the real dataset: :mod:`~paysages.data.transfer` (HTTP download),
  :mod:`~paysages.data.archive` (safe extraction), :mod:`~paysages.data.verification`
  (fingerprint and licence metadata) and :mod:`~paysages.data.landscapes`, which ties them;
* generating the sample dataset: :mod:`~paysages.data.painters` (the scenes) and
  :mod:`~paysages.data.sample` (the dataset on disk);
* reading images: :mod:`~paysages.data.scan` (which files), :mod:`~paysages.data.decode`
  (pixels), :mod:`~paysages.data.loading` (one array, cached) and :mod:`~paysages.data.report`
  (``paysages data verify``).

The split itself is :mod:`paysages.split`, the licence metadata :mod:`paysages.licences`.
"""

from paysages.data.access import (
    SAMPLE_IMAGE_SIZE,
    CrossDuplicateWarning,
    PreparedSplit,
    SplitArrays,
    class_names_of,
    dataset_is_missing,
    ensure_dataset,
    load_split_arrays,
    prepare_split,
    prepare_split_with_report,
    require_split,
    scan_and_decode,
)
from paysages.data.loading import load_images
from paysages.data.report import verify_image_folder
from paysages.data.scan import LICENCE_FOLDER_NAME


__all__ = [
    "LICENCE_FOLDER_NAME",
    "SAMPLE_IMAGE_SIZE",
    "CrossDuplicateWarning",
    "PreparedSplit",
    "SplitArrays",
    "class_names_of",
    "dataset_is_missing",
    "ensure_dataset",
    "load_images",
    "load_split_arrays",
    "prepare_split",
    "prepare_split_with_report",
    "require_split",
    "scan_and_decode",
    "verify_image_folder",
]
