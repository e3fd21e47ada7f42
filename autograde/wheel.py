"""Build the student wheel of the ``paysages`` package with hatchling, the project's build back-end.

The wheel is what ``pip wheel .`` would build: hatchling reads pyproject.toml (name, version,
dependencies, extras, console scripts, entry points, the ``packages`` and ``force-include``
tables), so it holds only the ``paysages`` package, never ``solutions/``, ``autograde/``, the
course sources or the tests. Hatchling is called in-process, so ``paysages release`` works
offline (``pip wheel`` would create an isolated build environment and download hatchling); it
is in the instructor extra. Its builds are reproducible: the same sources give the same wheel.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from paysages.errors import PaysagesError


def _wheel_builder(repository_dir: Path):
    """Hatchling's wheel builder of the project in ``repository_dir``."""
    try:
        from hatchling.builders.wheel import WheelBuilder
    except ImportError as error:
        raise PaysagesError(
            "Building the student wheel needs hatchling, which the instructor tools install: "
            "pip install -e '.[instructor]' in the repository."
        ) from error
    if not (Path(repository_dir) / "pyproject.toml").is_file():
        raise PaysagesError(f"No pyproject.toml in {repository_dir}: cannot build the student wheel.")
    return WheelBuilder(str(repository_dir))


def package_files(repository_dir: Path) -> dict[str, Path]:
    """Map each file the student wheel ships (its path in the wheel) to its source, as hatchling selects them."""
    builder = _wheel_builder(Path(repository_dir))
    return {included.distribution_path: Path(included.path) for included in builder.recurse_included_files()}


def build_wheel(repository_dir: Path, out_dir: Path) -> Path:
    """Write ``<name>-<version>-py3-none-any.whl`` into ``out_dir`` and return its path."""
    builder = _wheel_builder(Path(repository_dir))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Built in a private folder, then moved: a reader of out_dir never sees half a wheel.
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".wheel-") as staging:
        built = [Path(path) for path in builder.build(directory=staging, versions=["standard"])]
        if len(built) != 1 or built[0].suffix != ".whl":
            raise PaysagesError(f"hatchling built {[path.name for path in built]}, expected one wheel.")
        wheel_path = out_dir / built[0].name
        shutil.move(str(built[0]), wheel_path)
    return wheel_path
