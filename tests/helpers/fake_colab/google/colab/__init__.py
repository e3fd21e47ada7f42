"""Stand-in for Colab's ``google.colab`` package (drive and files), for simulated runtimes.

Every call is recorded as one JSON line in the file named by ``FAKE_COLAB_LOG`` (the kernel that
calls it is another process than the test that reads it).
"""

import json
import os


def record(call: str, **details) -> None:
    """Append one call to the log named by ``FAKE_COLAB_LOG`` (no log, no record)."""
    log = os.environ.get("FAKE_COLAB_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"call": call, **details}) + "\n")


# The sub-modules notebooks use, importable as attributes like in Colab.
from google.colab import drive, files  # noqa: E402,F401
