"""Build the student wheel of the ``paysages`` package, without network or build back-end.

The wheel follows pyproject.toml (name, version, dependencies, extras, console scripts, the
hatch ``packages`` and ``force-include`` tables) and holds only the ``paysages`` package: never
``solutions/``, ``autograde/``, the course sources or the tests. Building it in-process keeps
``paysages release`` working offline (``pip wheel`` would need hatchling, which the instructor
environment does not ship).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import tomllib
import zipfile
from pathlib import Path

from paysages.errors import PaysagesError

# Timestamp written in every member, so that the same sources give the same wheel.
_FIXED_DATE = (2024, 1, 1, 0, 0, 0)
_EXCLUDED_PARTS = {"__pycache__", ".ipynb_checkpoints"}
_EXCLUDED_SUFFIXES = {".pyc", ".pyo"}


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"sha256={digest}"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _metadata(project: dict, readme: str | None) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}"]
    if project.get("description"):
        lines.append(f"Summary: {project['description']}")
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    licence = project.get("license", {})
    if isinstance(licence, dict) and licence.get("text"):
        lines.append(f"License: {licence['text']}")
    for requirement in project.get("dependencies", []):
        lines.append(f"Requires-Dist: {requirement}")
    for extra, requirements in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for requirement in requirements:
            lines.append(f'Requires-Dist: {requirement}; extra == "{extra}"')
    if readme:
        lines.append("Description-Content-Type: text/markdown")
        return "\n".join(lines) + "\n\n" + readme
    return "\n".join(lines) + "\n"


def package_files(repository_dir: Path) -> dict[str, Path]:
    """Map each wheel member name to the file it comes from."""
    pyproject = tomllib.loads((repository_dir / "pyproject.toml").read_text(encoding="utf-8"))
    target = pyproject.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
    packages = target.get("packages") or [pyproject["project"]["name"]]
    members = {}
    for package in packages:
        folder = repository_dir / package
        if not folder.is_dir():
            raise PaysagesError(f"The package folder {folder} named in pyproject.toml does not exist.")
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(repository_dir)
            if (path.is_file() and not _EXCLUDED_PARTS.intersection(relative.parts)
                    and path.suffix not in _EXCLUDED_SUFFIXES):
                members[relative.as_posix()] = path
    for source, destination in target.get("force-include", {}).items():
        members[destination] = repository_dir / source
    return members


def build_wheel(repository_dir: Path, out_dir: Path) -> Path:
    """Write ``<name>-<version>-py3-none-any.whl`` into ``out_dir`` and return its path."""
    repository_dir = Path(repository_dir)
    pyproject = tomllib.loads((repository_dir / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    name, version = _normalise(project["name"]), project["version"]
    dist_info = f"{name}-{version}.dist-info"
    readme_path = repository_dir / str(project.get("readme", "README.md"))
    readme = readme_path.read_text(encoding="utf-8") if readme_path.is_file() else None

    contents: dict[str, bytes] = {}
    for member, path in package_files(repository_dir).items():
        contents[member] = path.read_bytes()
    contents[f"{dist_info}/METADATA"] = _metadata(project, readme).encode("utf-8")
    contents[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: paysages-autograde\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    ).encode("utf-8")
    scripts = project.get("scripts", {})
    if scripts:
        entry_points = "[console_scripts]\n" + "".join(f"{key} = {value}\n" for key, value in scripts.items())
        contents[f"{dist_info}/entry_points.txt"] = entry_points.encode("utf-8")

    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for member, data in contents.items():
        writer.writerow([member, _record_hash(data), len(data)])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    contents[f"{dist_info}/RECORD"] = record.getvalue().encode("utf-8")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel_path = out_dir / f"{name}-{version}-py3-none-any.whl"
    temporary = wheel_path.with_suffix(".tmp")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, data in contents.items():
            info = zipfile.ZipInfo(member, date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    temporary.replace(wheel_path)
    return wheel_path
