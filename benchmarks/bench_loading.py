"""Benchmark: the kit's image loader against one pass of keras.utils.image_dataset_from_directory.

Prints images per second (best and median of several alternating rounds) for

* the kit's loader, cold (cache cleared: every file decoded, then the cache written),
* the kit's loader from its ``.npy`` cache (one memory-mapped read),
* one full pass over ``keras.utils.image_dataset_from_directory(..., batch_size=64)``,
  every batch converted to NumPy (the dataset's creation is included),

and the ratios against the goals: cold >= 1.5x the Keras pass, cached >= 50x.

By default it generates a temporary folder of 700 JPEGs of 500x375 pixels (7 classes), the size
of the Landscapes photos (Flickr's default 500-pixel size, as the licence metadata's URLs show), with
the statistics of natural images (detail at every scale, amplitude falling as 1/frequency), so
the figures do not depend on a download (``--generator sample`` uses the kit's sample dataset):

    python benchmarks/bench_loading.py
    python benchmarks/bench_loading.py --images-dir datasets/landscapes --image-size 160
    python benchmarks/bench_loading.py --compare-parallelism   # serial, threads, processes

It is a script, not a test: the goals are printed, never asserted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPOSITORY_DIR = Path(__file__).resolve().parents[1]
if str(REPOSITORY_DIR) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_DIR))

from paysages.data import decode, loading, scan  # noqa: E402
from paysages.registry import get_dataset_spec  # noqa: E402

CLASS_NAMES = get_dataset_spec("sample").class_names
COLD_GOAL = 1.5
CACHED_GOAL = 50.0

# The Landscapes photos are Flickr's default size: the licence metadata's URLs
# (``https://farm*.staticflickr.com/.../<id>_<secret>.jpg``, no size suffix) serve images of
# 500 pixels on their longer side, most of them landscape 4:3.
SOURCE_SIZE = (500, 375)


def _smooth_noise(generator: np.random.Generator, cells: int, width: int, height: int) -> np.ndarray:
    """Return a ``height`` x ``width`` field of random values interpolated from a coarse grid."""
    coarse = generator.normal(0.0, 1.0, (cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC))


def make_photo_like_image(generator: np.random.Generator, width: int, height: int, tint: np.ndarray) -> Image.Image:
    """Return an image with natural-image statistics: a sky-to-ground gradient, detail at every
    scale with amplitude falling as 1/frequency (as in photographs), and a little sensor noise.
    Saved as JPEG quality 90 such images take about 1.5 bits per pixel, like web photos."""
    luminance = np.zeros((height, width), dtype=np.float32)
    chroma = np.zeros((height, width, 3), dtype=np.float32)
    for cells in (2, 4, 8, 16, 32, 64, 128):
        luminance += _smooth_noise(generator, cells, width, height) * (140.0 / cells)
        if cells <= 16:
            for channel in range(3):
                chroma[..., channel] += _smooth_noise(generator, cells, width, height) * (40.0 / cells)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    pixels = (
        110.0 * (1.0 - rows) * tint
        + 50.0
        + luminance[..., None]
        + chroma
        + generator.normal(0.0, 4.0, (height, width, 3)).astype(np.float32)
    )
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def generate_benchmark_folder(out_dir: Path, per_class: int, width: int, height: int, seed: int) -> None:
    """Write ``per_class`` JPEGs of ``width`` x ``height`` pixels in each of the seven classes."""
    generator = np.random.default_rng(seed)
    for class_index, class_name in enumerate(CLASS_NAMES):
        class_dir = out_dir / class_name
        class_dir.mkdir(parents=True, exist_ok=True)
        tint = np.asarray(
            [0.5 + 0.5 * np.cos(class_index + offset) for offset in (0.0, 2.1, 4.2)], dtype=np.float32
        )
        for number in range(per_class):
            image = make_photo_like_image(generator, width, height, tint)
            image.save(class_dir / f"{class_name}-{number:04d}.jpg", quality=90)


def images_per_second(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def time_kit_cold(files, labels, image_size, cache_dir: Path, workers):
    """Load with the cache cleared first: every file decoded, then the cache written."""
    shutil.rmtree(cache_dir, ignore_errors=True)
    start, start_cpu = time.perf_counter(), time.process_time()
    result = loading.load_images(
        files, image_size, labels=labels, cache_dir=cache_dir, cache_name="bench", workers=workers
    )
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    if result.from_cache:
        raise RuntimeError("The cold load unexpectedly came from the cache.")
    return seconds, cpu_seconds, result


def time_kit_cached(files, labels, image_size, cache_dir: Path, workers):
    start = time.perf_counter()
    result = loading.load_images(
        files, image_size, labels=labels, cache_dir=cache_dir, cache_name="bench", workers=workers
    )
    seconds = time.perf_counter() - start
    if not result.from_cache:
        raise RuntimeError("The second load did not come from the cache.")
    return seconds, result


def time_keras_pass(images_dir: Path, image_size: int, class_names) -> tuple[float, float, int]:
    """Create the Keras dataset and iterate every batch to NumPy.

    Returns the wall-clock seconds, the CPU seconds of all the process's threads, and the count.
    """
    import keras

    start, start_cpu = time.perf_counter(), time.process_time()
    dataset = keras.utils.image_dataset_from_directory(
        images_dir,
        class_names=list(class_names),
        image_size=(image_size, image_size),
        batch_size=64,
        verbose=False,
    )
    count = 0
    for batch_images, _batch_labels in dataset.as_numpy_iterator():
        count += len(batch_images)
    return time.perf_counter() - start, time.process_time() - start_cpu, count


def _decode_chunk(arguments):
    paths, image_size = arguments
    return [decode.decode_image(path, image_size) for path in paths]


def compare_parallelism(files, image_size: int, workers: int, repeats: int = 3) -> None:
    """Print the decoding rate of one thread, a thread pool and a process pool (best of ``repeats``).

    The process pool uses "spawn", the only start method that is safe once TensorFlow runs
    threads in the parent (as in a notebook); its start-up is included, as a loader would pay it.
    """
    print(f"\nDecoding strategies ({len(files)} files, {image_size}px, {workers} workers, no cache, "
          f"best of {repeats}):")
    for label, worker_count in (("serial (1 thread)", 1), (f"threads ({workers})", workers)):
        durations = []
        for _ in range(repeats):
            start = time.perf_counter()
            loading.load_images(files, image_size, workers=worker_count)
            durations.append(time.perf_counter() - start)
        print(f"  {label:<22} {images_per_second(len(files), min(durations)):8.0f} images/s")
    chunk_size = max(1, len(files) // (workers * 8))
    chunks = [(files[index:index + chunk_size], image_size) for index in range(0, len(files), chunk_size)]
    context = multiprocessing.get_context("spawn")
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as executor:
            decoded = [item for chunk in executor.map(_decode_chunk, chunks) for item in chunk]
        durations.append(time.perf_counter() - start)
    print(
        f"  {f'processes ({workers})':<22} {images_per_second(len(decoded), min(durations)):8.0f} images/s "
        "(pool start-up included)"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images-dir", type=Path, default=None,
                        help="a folder of class sub-folders (default: generate 700 photo-like JPEGs)")
    parser.add_argument("--image-size", type=int, default=64, help="square size of the decoded images")
    parser.add_argument("--source-size", type=int, nargs=2, default=SOURCE_SIZE, metavar=("WIDTH", "HEIGHT"),
                        help="size of the generated JPEGs (default: Flickr's 500-pixel photos, as in Landscapes)")
    parser.add_argument("--per-class", type=int, default=100, help="generated images per class")
    parser.add_argument("--generator", choices=("photo-like", "sample"), default="photo-like",
                        help="what to generate without --images-dir: 256x256 photo-like JPEGs, or "
                             "the kit's sample dataset (paysages.data.sample.generate_sample_dataset)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds of each loader")
    parser.add_argument("--workers", type=int, default=None, help="decoding threads (default: the kit's)")
    parser.add_argument("--compare-parallelism", action="store_true",
                        help="also time serial, thread and process decoding")
    arguments = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="paysages-bench-"))
    try:
        if arguments.images_dir is None:
            images_dir = scratch / "images"
            start = time.perf_counter()
            if arguments.generator == "sample":
                from paysages.data.sample import generate_sample_dataset

                generate_sample_dataset(images_dir, per_class=arguments.per_class, seed=0, image_size=256)
                print(f"Generated the sample dataset in {images_dir} ({time.perf_counter() - start:.1f} s).")
            else:
                width, height = arguments.source_size
                generate_benchmark_folder(images_dir, arguments.per_class, width, height, seed=0)
                print(f"Generated {arguments.per_class * len(CLASS_NAMES)} JPEGs of {width}x{height} in "
                      f"{images_dir} ({time.perf_counter() - start:.1f} s).")
            class_names = CLASS_NAMES
        else:
            images_dir = arguments.images_dir
            class_names = tuple(sorted(
                entry.name for entry in images_dir.iterdir()
                if entry.is_dir() and scan.ignore_reason(entry.name, is_folder=True, at_root=True) is None
            ))
        scanned = scan.scan_image_folder(images_dir, class_names)
        files, labels = scanned.files, scanned.labels
        size = arguments.image_size
        workers = arguments.workers or decode.default_workers()
        average_kib = sum(path.stat().st_size for path in files) / max(1, len(files)) / 1024
        print(f"{len(files)} files ({average_kib:.1f} KiB on average) in {len(class_names)} classes, "
              f"image size {size}, {os.cpu_count()} CPU cores, {workers} decoding threads.")

        cache_dir = scratch / "cache"
        # One untimed round of each loader first: TensorFlow's start-up and Python's imports
        # are not what is measured. Then the timed rounds alternate the loaders, so that both
        # see the same load on a shared machine.
        time_keras_pass(images_dir, size, class_names)
        time_kit_cold(files, labels, size, cache_dir, workers)
        cold_times, cached_times, keras_times, cold_cpu_times, keras_cpu_times = [], [], [], [], []
        for _ in range(arguments.repeats):
            keras_seconds, keras_cpu_seconds, keras_count = time_keras_pass(images_dir, size, class_names)
            keras_times.append(keras_seconds)
            keras_cpu_times.append(keras_cpu_seconds)
            seconds, cpu_seconds, cold_result = time_kit_cold(files, labels, size, cache_dir, workers)
            cold_times.append(seconds)
            cold_cpu_times.append(cpu_seconds)
            for _ in range(5):
                seconds, cached_result = time_kit_cached(files, labels, size, cache_dir, workers)
                cached_times.append(seconds)
        if not np.array_equal(cold_result.images, cached_result.images):
            raise RuntimeError("The cached images differ from the decoded ones.")

        kept = len(cold_result.paths)
        rows = (
            ("kit loader, cold (cache cleared)", kept, cold_times),
            ("kit loader, from cache", kept, cached_times),
            ("keras image_dataset_from_directory", keras_count, keras_times),
        )
        # The best round is the one least disturbed by other programs (as timeit reports);
        # the median shows how much the machine's load moved the figures.
        print(f"\nImages per second ({size}x{size}; best and median of {arguments.repeats} rounds, "
              f"5 cached loads per round):")
        rates = {}
        for label, count, durations in rows:
            best_rate = images_per_second(count, min(durations))
            median_rate = images_per_second(count, statistics.median(durations))
            rates[label] = (best_rate, median_rate)
            print(f"  {label:<36} best {best_rate:9.0f}   median {median_rate:9.0f}   "
                  f"(best {min(durations) * 1000:.1f} ms)")
        if cold_result.issues:
            print(f"  ({len(cold_result.skipped)} skipped, {len(cold_result.converted)} converted files)")

        keras_best, keras_median = rates["keras image_dataset_from_directory"]
        print("\nAgainst the Keras pass (best rounds; medians in brackets):")
        for label, goal in (("kit loader, cold (cache cleared)", COLD_GOAL), ("kit loader, from cache", CACHED_GOAL)):
            best_rate, median_rate = rates[label]
            ratio = best_rate / keras_best
            verdict = "met" if ratio >= goal else "NOT MET"
            short = "cold  " if goal == COLD_GOAL else "cached"
            print(f"  {short} {ratio:7.1f}x  ({median_rate / keras_median:.1f}x)   goal >= {goal:g}x: {verdict}")
        # CPU time barely depends on what else runs on the machine; wall-clock time does.
        cold_cpu_ms = 1000 * min(cold_cpu_times) / kept
        keras_cpu_ms = 1000 * min(keras_cpu_times) / keras_count
        print(f"\nCPU time per image (all threads, best round): kit cold {cold_cpu_ms:.3f} ms, keras "
              f"{keras_cpu_ms:.3f} ms ({keras_cpu_ms / cold_cpu_ms:.1f}x less for the kit). Load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.")

        if arguments.compare_parallelism:
            compare_parallelism(files, size, workers)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
