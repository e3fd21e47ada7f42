"""The ``paysages`` command-line tool.

Data commands (students and instructors)::

    paysages data sample --out DIR [--per-class N] [--seed S]
    paysages data download [--root DIR] [--exclude-no-derivatives]
    paysages data verify DIR [--dataset NAME]
    paysages data split [--run-dir DIR] [--overwrite]
    paysages env
    paysages demo [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from paysages import __version__
from paysages.cli_explore import add_explore_command
from paysages.cli_instructor import add_instructor_commands
from paysages.errors import PaysagesError


def _command_data_sample(arguments) -> int:
    from paysages.data.sample import generate_sample_dataset, sample_class_counts

    out_dir = generate_sample_dataset(
        arguments.out, per_class=arguments.per_class, seed=arguments.seed
    )
    counts = sample_class_counts(arguments.per_class)
    print(f"Sample dataset written to {out_dir} ({sum(counts.values())} images):")
    for class_name, count in counts.items():
        print(f"  {class_name:<10} {count:>5}")
    return 0


def _command_data_download(arguments) -> int:
    from paysages.data.landscapes import fetch_landscapes
    from paysages.settings import get_settings

    root = arguments.root or get_settings(dataset="landscapes").data_root
    dataset_dir = fetch_landscapes(
        Path(root), exclude_no_derivatives=arguments.exclude_no_derivatives
    )
    print(f"Landscapes dataset ready in {dataset_dir}")
    return 0


def _command_data_verify(arguments) -> int:
    from paysages.data.report import verify_image_folder
    from paysages.registry import get_dataset_spec

    spec = get_dataset_spec(arguments.dataset)
    report = verify_image_folder(Path(arguments.directory), spec.class_names)
    print(report.format())
    return 0 if report.ok else 1


def _command_data_split(arguments) -> int:
    from paysages.data import prepare_split_with_report
    from paysages.settings import get_settings
    from paysages.split import split_summary

    settings = get_settings(run_dir=arguments.run_dir, dataset=arguments.dataset)
    prepared = prepare_split_with_report(settings, overwrite=arguments.overwrite, progress=True)
    print(f"Split written to {prepared.path}")
    print(split_summary(prepared.frame).to_string())
    print(prepared.format_duplicates())
    return 0


def _command_env(arguments) -> int:
    from paysages.envcheck import check_environment
    from paysages.settings import get_settings

    report = check_environment(get_settings())
    print(report.format())
    return 0 if report.ok else 1


def _command_demo(arguments) -> int:
    from paysages.demo import run_demo

    return run_demo(Path(arguments.out))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paysages",
        description="The paysages teaching kit: data, course notebooks and grading.",
    )
    parser.add_argument("--version", action="version", version=f"paysages {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="get, generate, verify and split datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    sample = data_commands.add_parser("sample", help="generate the embedded synthetic sample dataset")
    sample.add_argument("--out", required=True, type=Path, help="folder to write class folders into")
    sample.add_argument("--per-class", type=int, default=100, help="average images per class (default 100)")
    sample.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    sample.set_defaults(handler=_command_data_sample)

    download = data_commands.add_parser(
        "download", help="download and verify the ml5js Landscapes dataset"
    )
    download.add_argument("--root", type=Path, default=None,
                          help="data root (default: PAYSAGES_DATA_ROOT or datasets/)")
    download.add_argument("--exclude-no-derivatives", action="store_true",
                          help="leave out photos under licences 3 and 6, which forbid derivatives")
    download.set_defaults(handler=_command_data_download)

    verify = data_commands.add_parser(
        "verify", help="check an image folder: counts per class, every bad file with its reason"
    )
    verify.add_argument("directory", help="the folder holding one sub-folder per class")
    verify.add_argument("--dataset", default="landscapes", choices=["landscapes", "sample"],
                        help="which registry entry gives the class names (default landscapes)")
    verify.set_defaults(handler=_command_data_verify)

    split = data_commands.add_parser("split", help="write the stratified 80/20 split file once")
    split.add_argument("--run-dir", type=Path, default=None, help="run folder (default PAYSAGES_RUN_DIR)")
    split.add_argument("--dataset", default=None, choices=["landscapes", "sample"])
    split.add_argument("--overwrite", action="store_true", help="replace an existing, different split")
    split.set_defaults(handler=_command_data_split)

    env = commands.add_parser("env", help="print the environment check")
    env.set_defaults(handler=_command_env)

    demo = commands.add_parser("demo", help="run the kit end to end on the embedded sample dataset")
    demo.add_argument("--out", default="build/demo", help="build folder (default build/demo)")
    demo.set_defaults(handler=_command_demo)

    add_explore_command(commands)
    add_instructor_commands(commands)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        return int(arguments.handler(arguments) or 0)
    except PaysagesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
