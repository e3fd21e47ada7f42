"""Stand-in for ``google.colab.drive``: binds the fake MyDrive folder ``FAKE_COLAB_DRIVE``.

``mount`` makes ``<mount point>/MyDrive`` a link to that folder and, like Colab, refuses a mount
point that already holds files; ``flush_and_unmount`` removes the link. Both are recorded.
"""

import os
from pathlib import Path

_mounted: list[Path] = []


def mount(mountpoint, force_remount=False, timeout_ms=120000, readonly=False):
    from google.colab import record

    target = Path(os.environ["FAKE_COLAB_DRIVE"])
    mount_point = Path(mountpoint)
    my_drive = mount_point / "MyDrive"
    if my_drive.is_symlink() and my_drive.resolve() == target.resolve():
        record("mount", mountpoint=str(mount_point), already=True)
        print(f"Drive already mounted at {mount_point}; to attempt to forcibly remount, call "
              "drive.mount(\"/content/drive\", force_remount=True).")
        return
    if mount_point.is_dir() and any(mount_point.iterdir()):
        raise ValueError("Mountpoint must not already contain files")
    mount_point.mkdir(parents=True, exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    my_drive.symlink_to(target, target_is_directory=True)
    _mounted.append(mount_point)
    record("mount", mountpoint=str(mount_point), already=False)
    print(f"Mounted at {mount_point}")


def flush_and_unmount(timeout_ms=24 * 60 * 60 * 1000):
    from google.colab import record

    if not _mounted:
        raise ValueError("Drive is not mounted")
    mount_point = _mounted.pop()
    (mount_point / "MyDrive").unlink()
    record("flush_and_unmount", mountpoint=str(mount_point))
    print("All changes made in this colab session should now be visible in Drive.")
