"""The trusted verdict process: ``python -m autograde.verdicts judge --notebook ... --output ...``.

Run by the grader in a fresh interpreter, outside the sandbox, after the notebook's kernel has
ended. It regenerates the run's probes from the seed it is given, reads the kernel's export
folder through :mod:`autograde.verdicts.exports`, recomputes the expected values with
``solutions/`` and writes the verdict file (JSON) at ``--output``, which the caller puts where no
kernel can write.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograde.verdicts.registry import cell_verdicts, judge_notebook
from paysages.files import write_json_atomic


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograde.verdicts", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    judge = commands.add_parser("judge", help="judge one notebook's exports and write its verdict file")
    judge.add_argument("--notebook", required=True)
    judge.add_argument("--seed", required=True, type=int)
    judge.add_argument("--export", required=True, type=Path, help="the kernel's export folder (hostile data)")
    judge.add_argument("--output", required=True, type=Path, help="the verdict file to write")
    arguments = parser.parse_args(argv)
    if not cell_verdicts(arguments.notebook):
        print(f"error: no verdict is registered for notebook {arguments.notebook!r}", file=sys.stderr)
        return 2
    result = judge_notebook(arguments.notebook, arguments.seed, arguments.export)
    write_json_atomic(arguments.output, result)
    for grade_id, verdict in result["verdicts"].items():
        print(f"{arguments.notebook}/{grade_id}: {verdict['fraction']:g} ({verdict['reason']})")
    for line in result["ignored"]:
        print(f"ignored: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
