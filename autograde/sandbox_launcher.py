"""Set the per-kernel resource limits, then replace this process with the grading kernel.

This file runs INSIDE the bubblewrap sandbox (``autograde/sandbox.py`` binds it read-only at
``/opt/paysages/launcher.py``), where neither the repository nor the ``autograde`` package is
visible: it must only use the standard library. It is started with ``python -I -S`` so that
nothing from the environment or site-packages runs before the limits are in place.

Usage::

    python -I -S launcher.py --cpu-seconds 1800 --address-space-bytes 17179869184 \
        --processes 512 --file-size-bytes 1073741824 --open-files 4096 -- COMMAND...

The limits are rlimits of the kernel process itself, inherited by whatever it starts:

* ``--cpu-seconds``: the kernel's own CPU time (all its threads). At the limit the kernel gets
  SIGXCPU and dies; the hard limit a few seconds later is SIGKILL. A busy loop therefore ends
  this kernel only, and the next notebook starts with a fresh count.
* ``--address-space-bytes``: virtual memory of each process (RLIMIT_AS).
* ``--processes``: processes of the user (RLIMIT_NPROC). The Linux kernel does not apply this
  limit to the root user, so it holds only where the grader does not run as root.
* ``--file-size-bytes``: the largest file a process may write (RLIMIT_FSIZE).
* ``--open-files``: open file descriptors per process (RLIMIT_NOFILE).

Core dumps are always disabled (RLIMIT_CORE 0): a crashing kernel writes nothing.
"""

import argparse
import os
import resource
import sys

# Seconds between the soft CPU limit (SIGXCPU, which a kernel could catch) and the hard one (SIGKILL).
CPU_HARD_MARGIN_SECONDS = 5


def parse_arguments(arguments):
    parser = argparse.ArgumentParser(prog="paysages-sandbox-launcher")
    parser.add_argument("--cpu-seconds", type=int, required=True)
    parser.add_argument("--address-space-bytes", type=int, required=True)
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--file-size-bytes", type=int, required=True)
    parser.add_argument("--open-files", type=int, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    options = parser.parse_args(arguments)
    command = list(options.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        parser.error("no command to run after the limits")
    return options, command


def lower_limit(which, soft, hard=None):
    """Lower one rlimit; never raise it above what the grader's own process already has."""
    current_soft, current_hard = resource.getrlimit(which)
    if hard is None:
        hard = soft
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
    soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))


def main(arguments):
    options, command = parse_arguments(arguments)
    lower_limit(resource.RLIMIT_CPU, options.cpu_seconds, options.cpu_seconds + CPU_HARD_MARGIN_SECONDS)
    lower_limit(resource.RLIMIT_AS, options.address_space_bytes)
    lower_limit(resource.RLIMIT_NPROC, options.processes)
    lower_limit(resource.RLIMIT_FSIZE, options.file_size_bytes)
    lower_limit(resource.RLIMIT_NOFILE, options.open_files)
    lower_limit(resource.RLIMIT_CORE, 0)
    # Files the kernel creates are private to it by default.
    os.umask(0o077)
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
