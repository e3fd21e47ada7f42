"""A fast-mode run folder with its split, its data and saved models, for the verdicts of saved models (05 to 07)."""

from __future__ import annotations

from pathlib import Path


def saved_run_folder(folder: Path, save_models) -> dict:
    """Prepare the split of the sample data under ``folder``, then let ``save_models(run, settings, data)`` fill the run.

    Returns ``environment`` (the fast-mode variables to patch in), ``run`` (its RunFolder),
    ``data`` (the split's arrays) and ``settings``.
    """
    from autograde.execute import fast_environment, patched_environment
    from paysages.data import load_split_arrays, prepare_split
    from paysages.runs import RunFolder
    from paysages.settings import get_settings

    environment = fast_environment(folder / "data", folder / "run")
    with patched_environment(environment):
        settings = get_settings()
        prepare_split(settings, progress=False)
        data = load_split_arrays(settings, progress=False)
        run = RunFolder(settings.run_dir)
        save_models(run, settings, data)
    return {"environment": environment, "run": run, "data": data, "settings": settings}
