"""The environment check: versions against the tested ones, Colab detection, the dataset's state.

The dataset cases run on real data: the generated sample dataset, and a Landscapes folder
fetched by the real download code from a local HTTP server serving the sample images.
"""

import dataclasses
import hashlib
import json
import shutil
import sys
import types
from pathlib import Path

import pytest

from paysages import envcheck
from paysages.data import landscapes as download
from paysages.envcheck import TESTED_VERSIONS, check_environment, dataset_status, in_colab
from paysages.registry import get_dataset_spec
from paysages.settings import get_settings
from tests.helpers.http import LocalServer

CLASS_NAMES = ("city", "field", "forest", "lake", "mountain", "ocean", "road")


@pytest.fixture(autouse=True)
def not_in_colab(monkeypatch):
    """Every test starts outside Colab, whatever the machine running the tests."""
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)


def _report(settings, versions=None, monkeypatch=None):
    if versions is not None:
        monkeypatch.setattr(envcheck, "installed_version", lambda name: versions.get(name))
    return check_environment(settings, probe_gpu=False)


# ---------------------------------------------------------------------------------------------
# Versions
# ---------------------------------------------------------------------------------------------


def test_installed_versions_are_reported_against_the_tested_ones(tmp_path):
    """Are the real TensorFlow and Keras versions printed, with a warning exactly when they differ?"""
    settings = get_settings("fast", environ={}, data_root=tmp_path)
    report = check_environment(settings, probe_gpu=False)
    for package in ("tensorflow", "keras"):
        version = envcheck.installed_version(package)
        assert f"{package} {version} (testé : {', '.join(TESTED_VERSIONS[package])})" in report.lines
        differs = not envcheck.is_tested_version(package, version)
        assert any(warning.startswith(f"{package} {version} diffère") for warning in report.warnings) == differs


def test_a_newer_version_is_a_warning_not_an_error(tmp_path, monkeypatch):
    """Colab moved to a newer TensorFlow: is it a clear warning that still lets the notebook run?"""
    settings = get_settings("fast", environ={}, data_root=tmp_path)
    report = _report(settings, {"tensorflow": "2.99.1", "keras": TESTED_VERSIONS["keras"][0] + ".0"}, monkeypatch)
    assert report.ok
    mismatch = [warning for warning in report.warnings if warning.startswith("tensorflow 2.99.1")]
    assert len(mismatch) == 1 and all(version in mismatch[0] for version in TESTED_VERSIONS["tensorflow"])
    assert not any(warning.startswith("keras") for warning in report.warnings)
    assert "ATTENTION: tensorflow 2.99.1" in report.format()


def test_too_old_or_missing_packages_are_errors(tmp_path, monkeypatch):
    """Is a too-old TensorFlow, or a missing Keras, an error that says what to do?"""
    settings = get_settings("fast", environ={}, data_root=tmp_path)
    report = _report(settings, {"tensorflow": "2.10.0", "keras": None}, monkeypatch)
    assert not report.ok
    assert any("tensorflow 2.10.0 est trop ancien" in error for error in report.errors)
    assert any("keras n'est pas installé" in error and "pip install" in error for error in report.errors)
    assert "ERREUR:" in report.format()


# ---------------------------------------------------------------------------------------------
# Colab
# ---------------------------------------------------------------------------------------------


def test_colab_is_detected_by_its_marker_variable(tmp_path, monkeypatch):
    settings = get_settings("fast", environ={}, data_root=tmp_path)
    assert not in_colab()
    assert "Environnement : local" in check_environment(settings, probe_gpu=False).lines
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-test")
    assert in_colab()
    assert "Environnement : Google Colab" in check_environment(settings, probe_gpu=False).lines


def test_colab_is_detected_by_its_module(monkeypatch):
    """A stand-in google.colab module (never the real one) is enough to detect Colab."""
    assert not in_colab()
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert in_colab()


# ---------------------------------------------------------------------------------------------
# The sample dataset
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def sample_settings(sample_dataset_dir, tmp_path):
    """Settings matching the session's sample dataset (40 per class, seed 7), in a private copy."""
    shutil.copytree(sample_dataset_dir, tmp_path / "data" / "sample")
    return get_settings("fast", environ={}, data_root=tmp_path / "data", sample_per_class=40, seed=7)


def test_generated_sample_dataset_is_verified(sample_settings):
    verified, message = dataset_status(sample_settings)
    total = sum(1 for _ in sample_settings.dataset_dir.glob("*/*.jpg"))
    assert verified and message == f"jeu d'exemple vérifié dans {sample_settings.dataset_dir} ({total} images)"
    report = check_environment(sample_settings, probe_gpu=False)
    assert f"Données : {message}" in report.lines
    assert not any("jeu d'exemple" in warning for warning in report.warnings)


def test_missing_sample_dataset_is_a_warning_naming_notebook_00(tmp_path):
    settings = get_settings("fast", environ={}, data_root=tmp_path)
    report = check_environment(settings, probe_gpu=False)
    assert report.ok  # A warning: the notebook can generate it.
    warnings = [warning for warning in report.warnings if "jeu d'exemple" in warning]
    assert len(warnings) == 1
    assert "00_prise_en_main.ipynb" in warnings[0] and "paysages data sample" in warnings[0]


def test_sample_with_a_missing_image_or_other_settings_is_not_verified(sample_settings):
    """A deleted image, or a sample generated with other settings: is neither reported as verified?"""
    other = dataclasses.replace(sample_settings, sample_per_class=41)
    verified, message = dataset_status(other)
    assert not verified and "d'autres réglages" in message

    next(iter(sorted((sample_settings.dataset_dir / "lake").glob("*.jpg")))).unlink()
    verified, message = dataset_status(sample_settings)
    assert not verified and "incomplet" in message and "00_prise_en_main.ipynb" in message


# ---------------------------------------------------------------------------------------------
# The Landscapes dataset, fetched by the real download code from a local server
# ---------------------------------------------------------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.fixture
def landscapes_server(sample_dataset_dir, monkeypatch):
    """Serve the sample images as the Landscapes archive, with their ml5js-format licence files.

    Returns a function that serves an archive of the given class/file names (default: every
    sample image) and returns the registry entry pointing at the server.
    """
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    images = {
        (path.parent.name, path.name): path.read_bytes() for path in sorted(sample_dataset_dir.glob("*/*.jpg"))
    }
    metadata = {
        name: (sample_dataset_dir / "licenses" / f"{name}_photos_info.json").read_bytes() for name in CLASS_NAMES
    }
    with LocalServer(lifetime=60) as server:

        def serve(members=None):
            members = images if members is None else members
            server.add("/landscapes_small.zip", _zip({f"{c}/{n}": data for (c, n), data in members.items()}))
            for class_name, body in metadata.items():
                server.add(f"/licenses/{class_name}_photos_info.json", body)
            spec = dataclasses.replace(
                get_dataset_spec("landscapes"),
                archive_urls=(server.url("/landscapes_small.zip"),),
                metadata_url_templates=(server.url("/licenses/{class_name}_photos_info.json"),),
                archive_sha256=None,
                archive_size=None,
                metadata_sha256={name: hashlib.sha256(body).hexdigest() for name, body in metadata.items()},
            )
            # The kit's own look-ups (download and environment check) see the served entry.
            monkeypatch.setattr(download, "get_dataset_spec", lambda name: spec)
            monkeypatch.setattr(envcheck, "get_dataset_spec", lambda name: spec)
            return spec, images

        yield serve


def _landscapes_settings(tmp_path):
    return get_settings("full", environ={}, data_root=tmp_path / "data")


@pytest.mark.network
def test_downloaded_landscapes_is_verified(tmp_path, landscapes_server):
    spec, images = landscapes_server()
    settings = _landscapes_settings(tmp_path)
    download.fetch_landscapes(settings.data_root, progress=False)

    verified, message = dataset_status(settings)

    assert verified, message
    assert message == f"jeu Landscapes vérifié dans {settings.dataset_dir} ({len(images)} images)"
    assert not any("Landscapes" in warning for warning in check_environment(settings, probe_gpu=False).warnings)


def test_missing_landscapes_is_a_warning_naming_notebook_00_and_the_command(tmp_path):
    settings = _landscapes_settings(tmp_path)
    report = check_environment(settings, probe_gpu=False)
    assert report.ok
    warning = next(warning for warning in report.warnings if "Landscapes" in warning)
    assert "non téléchargé" in warning and "00_prise_en_main.ipynb" in warning
    assert f"paysages data download --root {settings.data_root}" in warning
    assert "Données : absentes ou non vérifiées" in "\n".join(report.lines)


@pytest.mark.network
def test_a_manifest_whose_metadata_check_failed_is_not_verified(tmp_path, landscapes_server):
    """The archive lacks a described photo: the manifest records ok=False; is that reported?"""
    served_images = landscapes_server()[1]
    dropped = sorted(served_images)[0]
    spec, _ = landscapes_server({key: value for key, value in served_images.items() if key != dropped})
    settings = _landscapes_settings(tmp_path)
    with pytest.warns(UserWarning, match=dropped[1]):
        download.fetch_landscapes(settings.data_root, spec=spec, progress=False)
    manifest = json.loads((settings.dataset_dir / "paysages_dataset.json").read_text())
    assert manifest["metadata_check"]["ok"] is False

    verified, message = dataset_status(settings)

    assert not verified
    assert "NON vérifié" in message and "1 photo(s)" in message and "00_prise_en_main.ipynb" in message
    assert any("NON vérifié" in warning for warning in check_environment(settings, probe_gpu=False).warnings)


@pytest.mark.network
def test_files_changed_after_the_download_are_not_verified(tmp_path, landscapes_server):
    """A photo deleted after the download: does the check compare the files on disk with the manifest?"""
    landscapes_server()
    settings = _landscapes_settings(tmp_path)
    download.fetch_landscapes(settings.data_root, progress=False)
    assert dataset_status(settings)[0]
    photo = next(iter(sorted((settings.dataset_dir / "road").glob("*.jpg"))))
    photo.unlink()

    verified, message = dataset_status(settings)

    assert not verified and "ne correspondent plus à son manifeste" in message


def test_an_interrupted_download_is_reported_as_incomplete(tmp_path):
    """Class folders without the manifest (written last): is the dataset said to be incomplete?"""
    settings = _landscapes_settings(tmp_path)
    (settings.dataset_dir / "city").mkdir(parents=True)
    Path(settings.dataset_dir / "city" / "1.jpg").write_bytes(b"\xff\xd8\xff")
    verified, message = dataset_status(settings)
    assert not verified and "incomplet" in message and "00_prise_en_main.ipynb" in message


# ---------------------------------------------------------------------------------------------
# Colab's versions and the grading floor
# ---------------------------------------------------------------------------------------------


def _colab_pins(repository_dir) -> dict[str, str]:
    lines = (repository_dir / "colab" / "constraints-colab.txt").read_text(encoding="utf-8").splitlines()
    return dict(line.lower().split("==") for line in lines if "==" in line and not line.startswith("#"))


def test_colab_versions_are_tested_versions(repository_dir, tmp_path, monkeypatch):
    """On Colab's TensorFlow and Keras (colab/constraints-colab.txt), does a student see no version warning?"""
    pins = _colab_pins(repository_dir)
    settings = get_settings("fast", environ={}, data_root=tmp_path)
    report = _report(settings, {"tensorflow": pins["tensorflow"], "keras": pins["keras"]}, monkeypatch)
    assert report.ok
    assert not [warning for warning in report.warnings if warning.startswith(("tensorflow", "keras"))]


def test_grading_refuses_a_keras_without_the_safe_mode_fixes(monkeypatch):
    """Is Colab's Keras fine for students but refused for grading, with the reason and the fix?"""
    monkeypatch.setattr(envcheck, "installed_version", lambda name: "3.13.2")
    with pytest.raises(envcheck.PaysagesError, match=r"Grading refuses to run with Keras 3\.13\.2.*safe_mode.*keras>=3\.14"):
        envcheck.require_grading_keras()
    monkeypatch.setattr(envcheck, "installed_version", lambda name: None)
    with pytest.raises(envcheck.PaysagesError, match="Keras is not installed"):
        envcheck.require_grading_keras()
    monkeypatch.setattr(envcheck, "installed_version", lambda name: "3.14.0")
    assert envcheck.require_grading_keras() == "3.14.0"


def test_paysages_autograde_stops_first_on_an_unsafe_keras(monkeypatch, tmp_path, capsys):
    """Does `paysages autograde` refuse at once (status 2, one clear line) with Keras 3.13?"""
    from paysages import cli

    monkeypatch.setattr(envcheck, "installed_version", lambda name: "3.13.2")
    status = cli.main(["autograde", "--course-dir", str(tmp_path / "no-course")])
    assert status == 2
    assert "Grading refuses to run with Keras 3.13.2" in capsys.readouterr().err
