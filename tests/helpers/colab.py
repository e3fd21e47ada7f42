"""A simulated Google Colab: a stand-in ``google.colab``, a fake MyDrive, one /content per runtime.

Colab gives each notebook its own runtime, whose ``/content`` starts empty, while Google Drive
persists. :class:`SimulatedColab` keeps a fake MyDrive folder for the whole test and hands out a
fresh content folder (``PAYSAGES_COLAB_CONTENT``) for each runtime. The stand-in package in
``fake_colab/`` records every ``drive`` and ``files`` call in a log that :meth:`calls` reads.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

FAKE_COLAB_PATH = Path(__file__).resolve().parent / "fake_colab"

# What start() and the Colab helpers may have left in os.environ from an earlier test.
KIT_VARIABLES = (
    "PAYSAGES_RUN_DIR",
    "PAYSAGES_DATA_ROOT",
    "PAYSAGES_DRIVE_FOLDER",
    "NBGRADER_EXECUTION",
    "PAYSAGES_MODE",
)


class SimulatedColab:
    """A fake Drive that persists, and a content folder wiped at each new runtime."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.drive = self.root / "fake-drive" / "MyDrive"
        self.content = self.root / "content"
        self.log = self.root / "colab-calls.jsonl"
        self.drive.mkdir(parents=True, exist_ok=True)
        self.content.mkdir(parents=True, exist_ok=True)

    @property
    def kit_folder(self) -> Path:
        """The kit's folder on the fake Drive (``MyDrive/paysages``)."""
        return self.drive / "paysages"

    def environment(self) -> dict[str, str]:
        """The variables that make a process (a kernel) believe it runs in this Colab."""
        python_path = os.pathsep.join(
            [str(FAKE_COLAB_PATH)] + [part for part in os.environ.get("PYTHONPATH", "").split(os.pathsep) if part]
        )
        return {
            "COLAB_RELEASE_TAG": "simulated",
            "PAYSAGES_COLAB_CONTENT": str(self.content),
            "FAKE_COLAB_DRIVE": str(self.drive),
            "FAKE_COLAB_LOG": str(self.log),
            "PYTHONPATH": python_path,
        }

    def new_runtime(self) -> Path:
        """Start a new runtime: an empty content folder (Drive keeps its files); return it."""
        shutil.rmtree(self.content, ignore_errors=True)
        self.content.mkdir(parents=True)
        return self.content

    def install(self, monkeypatch) -> None:
        """Make this test process a Colab runtime (undone by ``monkeypatch``)."""
        for name, value in self.environment().items():
            if name != "PYTHONPATH":
                monkeypatch.setenv(name, value)
        for name in KIT_VARIABLES:
            # Set, then deleted: monkeypatch then also undoes what the kit writes there later.
            monkeypatch.setenv(name, "")
            monkeypatch.delenv(name)
        monkeypatch.syspath_prepend(str(FAKE_COLAB_PATH))
        # The stand-in is imported afresh (no mount state from an earlier test) and forgotten
        # afterwards: a google.colab left in sys.modules would make the kit believe it is in Colab.
        for module in ("google.colab", "google.colab.drive", "google.colab.files"):
            monkeypatch.setitem(sys.modules, module, None)
            monkeypatch.delitem(sys.modules, module)

    def calls(self, kind: str | None = None) -> list[dict]:
        """The recorded ``google.colab`` calls, oldest first (only those of ``kind`` if given)."""
        if not self.log.is_file():
            return []
        calls = [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line]
        return [call for call in calls if kind is None or call["call"] == kind]
