"""The ``paysages`` command-line tool.

Student commands, always registered (they need nothing outside this package)::

    paysages data sample --out DIR [--per-class N] [--seed S]
    paysages data download [--root DIR] [--exclude-no-derivatives]
    paysages data verify DIR [--dataset NAME]
    paysages data split [--run-dir DIR] [--overwrite]
    paysages env
    paysages explore ...
    paysages submit --student-id ID [--notebooks DIR] [--run-dir DIR] --out FILE.zip

Other commands come from installed packages through the entry-point group
:data:`COMMANDS_ENTRY_POINT_GROUP`: each entry point names a function that takes the
sub-parser collection and registers its commands. A source checkout installed with
``pip install -e '.[instructor]'`` adds the instructor commands of ``autograde/cli.py``
(release, collect, autograde, feedback, export, report, demo); the student wheel has no
``autograde`` package, so there ``paysages --help`` lists the student commands only.

Exit status: 0 on success; 2 on a user error (one line on stderr, never a traceback);
a command may return its own non-zero status (1: a check failed, 3: some submissions were
not graded).
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points
from pathlib import Path

from paysages import __version__
from paysages.cli_explore import add_explore_command
from paysages.errors import PaysagesError
from paysages.submit import add_submit_command

COMMANDS_ENTRY_POINT_GROUP = "paysages.commands"
EXIT_USER_ERROR = 2


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

    directory = Path(arguments.directory)
    if not directory.is_dir():
        raise PaysagesError(f"The image folder {directory} does not exist or is not a folder.")
    spec = get_dataset_spec(arguments.dataset)
    report = verify_image_folder(directory, spec.class_names)
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


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (status 2), like every other error.

    argparse prints the whole usage before its message; here the message says where the usage
    is instead. Sub-command parsers inherit the class.
    """

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def add_discovered_commands(commands) -> list[str]:
    """Register the commands of every entry point of :data:`COMMANDS_ENTRY_POINT_GROUP`.

    An entry point whose package is not installed is left out: the project's metadata declares
    the instructor commands, but the student wheel ships only ``paysages/``. Return the names of
    the entry points registered.
    """
    registered = []
    for entry_point in entry_points(group=COMMANDS_ENTRY_POINT_GROUP):
        parts = entry_point.module.split(".")
        own_packages = {".".join(parts[:length]) for length in range(1, len(parts) + 1)}
        try:
            register = entry_point.load()
        except ModuleNotFoundError as error:
            if error.name not in own_packages:
                raise  # The package is there but something it needs is not: say so.
            continue
        register(commands)
        registered.append(entry_point.name)
    return registered


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="paysages",
        description="The paysages teaching kit: data, course notebooks, submissions (and grading, for instructors).",
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
        "download",
        help="download and verify the ml5js Landscapes dataset",
        description="Download (or reuse), verify and extract the ml5js Landscapes dataset. Prints "
        "the archive's SHA-256 and size, and checks them against the fingerprint recorded in the "
        "registry (autograde/course.json's dataset_archive, written there by `make notebooks`); "
        "without one, says that the archive is not verified.",
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

    add_explore_command(commands)
    add_submit_command(commands)
    add_discovered_commands(commands)
    return parser


def _one_line(error: BaseException) -> str:
    """The error's message on one line (a message may quote a multi-line log)."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def main(argv=None) -> int:
    """Run one command; a user error ends with one line on stderr and status 2."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        return int(arguments.handler(arguments) or 0)
    except (PaysagesError, ValueError, OSError) as error:
        # ValueError: a value from the command line refused by the library (a student id, a
        # pattern); OSError: a path given that does not exist or cannot be written.
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
