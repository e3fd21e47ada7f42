"""Play the kernel's side of the verdict stage in the test process (no kernel, no nbgrader).

:func:`export_like_the_kernel` runs the hidden regions of a notebook's test cells, the code a
grading kernel would run, with the student's functions given in ``namespace``, the grader's
probes in ``probes_dir`` and the export folder ``export_dir``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from autograde.notebooks import grade_id_of, region_lines
from paysages.probes import EXPORT_VARIABLE, PROBES_VARIABLE
from tests.helpers.sandbox import patched_environ


def export_like_the_kernel(notebook_path: Path, namespace: dict, probes_dir: Path, export_dir: Path,
                           grade_ids: set[str]) -> None:
    """Run the hidden region of each test cell in ``grade_ids``, as the grading kernel would."""
    notebook = nbformat.read(str(notebook_path), as_version=4)
    with patched_environ({PROBES_VARIABLE: str(probes_dir), EXPORT_VARIABLE: str(export_dir)}):
        for cell in notebook.cells:
            if grade_id_of(cell) in grade_ids:
                exec(compile("\n".join(region_lines(cell.source, "hidden")), grade_id_of(cell), "exec"), namespace)


def split_file_export(paths: list[str], labels: list[int], class_names: list[str], *, validation_fraction: float,
                      seed: int, stratified_split, split_table, file_rows: dict | None = None) -> dict:
    """What the hidden part of notebook 01's ``test_split_file`` exports, without a kernel or a data set.

    ``paths``, ``labels`` and ``class_names`` stand for the images the kit lists; split.csv holds
    ``file_rows`` (columns path, class, subset), by default the table of the given functions.
    """
    import numpy as np

    from paysages.probes import plain_integers

    classes = [class_names[label] for label in labels]
    train, validation = stratified_split(np.asarray(labels, dtype=np.int64), validation_fraction, seed)
    table = split_table(list(paths), classes, train, validation)
    if file_rows is None:
        file_rows = {column: [str(item) for item in table[column].tolist()] for column in ("path", "class", "subset")}
    return {"class_names": list(class_names), "paths": list(paths), "labels": [int(label) for label in labels],
            "validation_fraction": float(validation_fraction), "seed": int(seed), "file": file_rows,
            "split": {"type": type((train, validation)).__name__, "train": plain_integers(train),
                      "validation": plain_integers(validation)},
            "table": {column: [str(item) for item in table[column].tolist()] for column in ("path", "subset")}}


def probe_exchange(notebook: str, seed: int, namespace: dict, grade_ids: set[str], folder: Path) -> Path:
    """Write ``notebook``'s probes of ``seed`` and run the hidden regions of ``grade_ids``; return the export folder.

    The kernel's side runs in fast mode with an empty run folder under ``folder``: a hidden region
    that also reports on the run (notebook 06's saved best model) exports that it found nothing.
    """
    from autograde.execute import fast_environment, patched_environment
    from autograde.layout import COURSE_NOTEBOOK_DIR
    from autograde.verdicts import registry

    probes, export = folder / "probes", folder / "export"
    registry.write_probes(notebook, seed, probes)
    export.mkdir()
    with patched_environment(fast_environment(folder / "data", folder / "run")):
        export_like_the_kernel(COURSE_NOTEBOOK_DIR / f"{notebook}.ipynb", namespace, probes, export, grade_ids)
    return export


def best_model_report(seed: int, *, matrix=None, confusions=None, report=None) -> dict:
    """What notebook 06's hidden regions export about a made-up saved best model, without a model or data.

    ``matrix``, ``confusions`` and ``report`` default to the reference's results on these
    predictions; a callable replaces one with its result on ``(labels, predictions, class_names)``.
    """
    import numpy as np
    from sklearn import metrics

    from autograde.verdicts.nb06 import BEST_MODEL_TOP
    from paysages.probes import plain_floats, plain_integers, plain_table
    from solutions.errors import most_confused_pairs, per_class_report

    rng = np.random.default_rng(seed)
    class_names = ["city", "field", "forest", "lake", "mountain", "ocean", "road"]
    labels = rng.integers(0, 7, size=120)
    predictions = np.where(rng.random(120) < 0.7, labels, rng.integers(0, 7, size=120))

    def reference_matrix(labels, predictions, names):
        return metrics.confusion_matrix(labels, predictions, labels=np.arange(len(names)))

    make_matrix = matrix or reference_matrix
    make_confusions = confusions or (lambda labels, predictions, names: most_confused_pairs(
        reference_matrix(labels, predictions, names), names, top=BEST_MODEL_TOP))
    make_report = report or per_class_report
    pair_kinds = {"true_class": "strings", "predicted_class": "strings", "count": "integers", "share": "floats"}
    report_kinds = dict.fromkeys(["precision", "recall", "f1", "support"], "floats")
    # The shape of paysages.probes.best_model_validation_export, without a saved model.
    return {
        "class_names": class_names, "labels": plain_integers(labels), "predictions": plain_integers(predictions),
        "matrix": [plain_floats(row) for row in np.asarray(make_matrix(labels, predictions, class_names), dtype=float)],
        "confusions": plain_table(make_confusions(labels, predictions, class_names), pair_kinds),
        "report": plain_table(make_report(labels, predictions, class_names), report_kinds),
    }


def neighbours_run_exports(seed: int, probes: dict, *, nearest_neighbours=None, neighbour_class_agreement=None,
                           record=None) -> dict:
    """What notebook 08's hidden regions export about a made-up run, without a model or data.

    Returns grade id -> (export, arrays).

    The whole data set's features (training images first, an exact duplicate among them) stand for
    both notebook 07's features and the saved best model's; ``test_nearest_neighbours`` and
    ``test_neighbour_class_agreement`` give their ``"run"`` part, ``test_neighbours_json`` its whole
    export. The functions default to the reference; ``record`` edits neighbours.json (a callable on
    the record the notebook writes, returning the record to export).
    """
    import numpy as np

    from autograde.verdicts.nb08 import RUN_NEIGHBOURS
    from paysages.probes import plain_floats, plain_integers
    from solutions import neighbours

    nearest_neighbours = nearest_neighbours or neighbours.nearest_neighbours
    neighbour_class_agreement = neighbour_class_agreement or neighbours.neighbour_class_agreement
    rng = np.random.default_rng(seed)
    class_names = ["city", "field", "forest", "lake", "mountain", "ocean", "road"]
    num_train, num_validation = 50, 24
    features = np.maximum(rng.normal(size=(num_train + num_validation, 24)) * 3.0, 0.0).astype(np.float32)
    features[3] = features[num_train + 5]
    labels = rng.integers(0, len(class_names), size=len(features))
    paths = {"train": [f"{class_names[label]}/train_{index}.jpg" for index, label in enumerate(labels[:num_train])],
             "validation": [f"{class_names[label]}/valid_{index}.jpg"
                            for index, label in enumerate(labels[num_train:])]}

    def exported(points, query, count):
        indices, distances = nearest_neighbours(np.array(points, dtype=np.float64), query, count)
        return {"indices": plain_integers(indices), "distances": plain_floats(distances)}

    def describe(position):
        split, index = ("train", position) if position < num_train else ("validation", position - num_train)
        return {"position": int(position), "split": split, "index": int(index), "path": paths[split][index],
                "class": class_names[labels[position]]}

    subset = features[num_train:]
    run_features = {"saved_features": subset, "model_features": subset}
    queries = probes["test_nearest_neighbours"]["run_queries"]
    nearest_run = {key: [exported(points, min(int(fraction * len(points)), len(points) - 1), RUN_NEIGHBOURS)
                         for fraction in queries] for key, points in run_features.items()}
    query = int(rng.integers(len(features)))
    positions, distances = nearest_neighbours(np.array(features, dtype=np.float64), query, 3)
    written = {"model": "cnn", "num_images": len(features), "query": describe(query),
               "neighbours": [{**describe(position), "distance": float(distance)}
                              for position, distance in zip(positions, distances)]}
    dataset = {"class_names": class_names, "labels": plain_integers(labels), "num_train": num_train,
               "train_paths": paths["train"], "validation_paths": paths["validation"]}
    agreement = neighbour_class_agreement(np.array(features, dtype=np.float64), labels.copy(), RUN_NEIGHBOURS)
    return {
        "test_nearest_neighbours": ({"run": nearest_run}, run_features),
        "test_neighbours_json": ({"record": record(written) if record else written, "dataset": dataset},
                                 {"features": features}),
        "test_neighbour_class_agreement": ({"run": {"agreement": {"values": plain_floats(agreement)}}},
                                           {"features": features, "labels": labels}),
    }
