"""Notebook 06's cells on the saved best model (errors, errors.json, Grad-CAM), judged from the rebuilt models.

The kernel's side is played by the hidden regions of notebook 06's test cells, run in this process
(``tests/helpers/verdicts.py``) on a fast-mode run folder with two small saved CNNs; the verdict
process rebuilds them from the exported archives and decodes the validation images itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from autograde.verdicts import nb06, registry
from solutions import errors, gradcam
from tests.helpers.saved_runs import saved_run_folder
from tests.helpers.tables import with_cell

NOTEBOOK = nb06.NOTEBOOK
SEED = 71
SAVED_IDS = {"test_errors_best_model", "test_saved_errors", "test_grad_cam"}
# The hidden part of test_misclassified_examples defines the table kinds the later cells export.
KERNEL_IDS = SAVED_IDS | {"test_misclassified_examples"}
BEST = {"name": "cnn", "rule": "F1-macro de validation le plus haut."}

pytestmark = pytest.mark.slow


def _small_cnn(seed: int, input_shape, num_classes: int):
    """An untrained chain CNN (a Conv2D to explain), small enough to build and save in a second."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(6 + seed, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A fast-mode run folder with two saved CNNs, best.json naming the first, its split and its data."""
    def save_models(run, settings, data):
        for seed, name in enumerate(("cnn", "reg_dropout")):
            run.save_model(_small_cnn(seed, settings.image_shape, len(data.class_names)), name)
        run.save_json("best", BEST)

    return saved_run_folder(tmp_path_factory.mktemp("nb06"), save_models)


def _notebook_results(run, data, name: str) -> dict:
    """errors and errors.json of the saved model ``name``, computed the notebook's way."""
    probabilities = run.load_model(name).predict(data.x_validation, batch_size=16, verbose=0)
    predictions = probabilities.argmax(axis=1)
    table = errors.misclassified_examples(data.y_validation, probabilities, data.class_names)
    matrix = metrics.confusion_matrix(data.y_validation, predictions, labels=np.arange(len(data.class_names)))
    report = errors.per_class_report(data.y_validation, predictions, data.class_names)
    records = [{"index": int(row["index"]), "path": data.validation_paths[int(row["index"])],
                "true_class": row["true_class"], "predicted_class": row["predicted_class"],
                "confidence": float(row["confidence"])} for row in table.to_dict(orient="records")]
    file = {"model": "cnn", "num_images": int(len(data.y_validation)), "num_errors": len(records),
            "class_names": list(data.class_names), "errors": records, "confusion_matrix": matrix.tolist(),
            "top_confusions": errors.most_confused_pairs(matrix, data.class_names, top=5).to_dict(orient="records"),
            "per_class": report.to_dict(orient="index")}
    return {"errors": table, "file": file}


def _judged(saved_run, tmp_path, *, errors_of="cnn", edit_errors=None, edit_file=None, best=None,
            grad_cam=gradcam.grad_cam, cam_name="reg_dropout") -> dict:
    """Run the hidden regions of 06's saved-model cells the notebook's way, with the edits, then judge them."""
    from autograde.execute import patched_environment
    from autograde.layout import COURSE_NOTEBOOK_DIR
    from tests.helpers.verdicts import export_like_the_kernel

    run, data = saved_run["run"], saved_run["data"]
    with patched_environment(saved_run["environment"]):
        results = _notebook_results(run, data, errors_of)
        table = edit_errors(results["errors"]) if edit_errors else results["errors"]
        file = results["file"]
        if edit_file:
            edit_file(file)
        run.save_json("errors", file)
        run.save_json("best", best or BEST)
        namespace = {"misclassified_examples": errors.misclassified_examples, "errors": table,
                     "grad_cam": grad_cam, "cam_name": cam_name}
        probes, export = tmp_path / "probes", tmp_path / "export"
        registry.write_probes(NOTEBOOK, SEED, probes)
        export.mkdir()
        export_like_the_kernel(COURSE_NOTEBOOK_DIR / f"{NOTEBOOK}.ipynb", namespace, probes, export, KERNEL_IDS)
        result = registry.judge_notebook(NOTEBOOK, SEED, export)
    assert result["ignored"] == []
    return {grade_id: result["verdicts"][grade_id] for grade_id in SAVED_IDS}


def test_the_notebooks_results_on_the_saved_models_earn_every_saved_model_cell(saved_run, tmp_path):
    """Do the reference errors, errors.json and Grad-CAM maps, judged from the rebuilt models, earn the three cells?"""
    verdicts = _judged(saved_run, tmp_path)
    assert {grade_id: verdict["fraction"] for grade_id, verdict in verdicts.items()} == dict.fromkeys(SAVED_IDS, 1.0)


def _without_first_row(table):
    return table.iloc[1:].reset_index(drop=True)


def _increasing(table):
    return table.iloc[::-1].reset_index(drop=True)


@pytest.mark.parametrize(("edit_errors", "reason"), [
    (_without_first_row, "does not list exactly the images"),
    (_increasing, "sorted by decreasing confidence"),
    (with_cell("confidence", 0, 0.999), "the confidence of image"),
    (with_cell("predicted_class", 0, "nowhere"), "the predicted_class of image"),
])
def test_an_errors_table_that_does_not_describe_the_saved_best_model_loses_its_cell(saved_run, tmp_path,
                                                                                   edit_errors, reason):
    """Does a missing error, the wrong order, a typed confidence or a wrong class lose test_errors_best_model?"""
    assert len(_notebook_results(saved_run["run"], saved_run["data"], "cnn")["errors"]) >= 2
    verdict = _judged(saved_run, tmp_path, edit_errors=edit_errors)["test_errors_best_model"]
    assert verdict["fraction"] == 0.0 and reason in verdict["reason"], verdict


def test_errors_and_a_file_of_another_model_than_best_json_lose_both_cells(saved_run, tmp_path):
    """Are the errors of another saved model, written for the model of best.json, caught by the rebuilt model?"""
    verdicts = _judged(saved_run, tmp_path, errors_of="reg_dropout")
    assert verdicts["test_errors_best_model"]["fraction"] == 0.0
    assert verdicts["test_saved_errors"]["fraction"] == 0.0
    assert verdicts["test_grad_cam"]["fraction"] == 1.0


def _other_model(file):
    file["model"] = "reg_dropout"


def _swapped_paths(file):
    first, second = file["errors"][0], file["errors"][1]
    first["path"], second["path"] = second["path"], first["path"]


def _typed_matrix(file):
    file["confusion_matrix"][0][0] += 1


def _typed_recall(file):
    name = next(iter(file["per_class"]))
    file["per_class"][name]["recall"] = 1.5


def _forged_confidence(file):
    file["errors"][0]["confidence"] = 0.01


@pytest.mark.parametrize(("edit_file", "reason"), [
    (_other_model, "must describe the model named by best.json"),
    (_swapped_paths, "the path of an error"),
    (_typed_matrix, "the confusion matrix does not match"),
    (_typed_recall, "the recall of"),
    (_forged_confidence, "the confidence of image"),
])
def test_an_errors_file_that_does_not_describe_the_saved_best_model_loses_its_cell(saved_run, tmp_path, edit_file,
                                                                                  reason):
    """Does errors.json naming another model, a swapped path, a typed matrix, recall or confidence lose its cell?"""
    verdicts = _judged(saved_run, tmp_path, edit_file=edit_file)
    assert verdicts["test_errors_best_model"]["fraction"] == 1.0
    verdict = verdicts["test_saved_errors"]
    assert verdict["fraction"] == 0.0 and reason in verdict["reason"], verdict


def test_a_best_json_that_names_no_saved_model_loses_both_errors_cells(saved_run, tmp_path):
    """Does best.json naming a model that was never saved lose the cells that read the best model?"""
    verdicts = _judged(saved_run, tmp_path, best={**BEST, "name": "absent"})
    for grade_id in ("test_errors_best_model", "test_saved_errors"):
        assert verdicts[grade_id]["fraction"] == 0.0
        assert "does not name a model saved" in verdicts[grade_id]["reason"]


def _inverted(model, image, class_index=None):
    return 1.0 - gradcam.grad_cam(model, image, class_index)


def _not_normalised(model, image, class_index=None):
    return 3.0 * gradcam.grad_cam(model, image, class_index)


def _broken(model, image, class_index=None):
    raise RuntimeError("no gradient")


def _image_sized_noise(model, image, class_index=None):
    return np.random.default_rng(0).random(np.asarray(image).shape[:2])


@pytest.mark.parametrize(("grad_cam", "reason"), [
    (_inverted, "differs from the reference"),
    (_not_normalised, "normalised between 0 and 1"),
    (_broken, "could not be computed"),
    (_image_sized_noise, "differs from the reference"),
])
def test_a_wrong_grad_cam_loses_the_bonus(saved_run, tmp_path, grad_cam, reason):
    """Does an inverted, unnormalised, failing or random map lose test_grad_cam, judged against the reference?"""
    verdict = _judged(saved_run, tmp_path, grad_cam=grad_cam)["test_grad_cam"]
    assert verdict["fraction"] == 0.0 and reason in verdict["reason"], verdict


def test_grad_cam_on_a_model_that_is_not_saved_loses_the_bonus(saved_run, tmp_path):
    """Is a cam_name that names no saved model refused, whatever maps the kernel could have made?"""
    verdict = _judged(saved_run, tmp_path, cam_name="never_saved")["test_grad_cam"]
    assert verdict["fraction"] == 0.0 and "could not be computed" in verdict["reason"], verdict


def test_grad_cam_calls_cover_each_image_for_its_prediction_and_two_drawn_classes():
    """Are the grader's calls three per image (predicted class, then two drawn classes), inside the run's ranges?"""
    probes = registry.make_probes(NOTEBOOK, SEED)["test_grad_cam"]
    calls = nb06.grad_cam_calls(probes, num_images=40, num_classes=7)
    assert len(calls) == 3 * nb06.GRAD_CAM_IMAGES
    assert [class_index is None for _, class_index in calls] == [True, False, False] * nb06.GRAD_CAM_IMAGES
    assert all(0 <= position < 40 for position, _ in calls)
    assert all(0 <= class_index < 7 for _, class_index in calls if class_index is not None)
    assert registry.make_probes(NOTEBOOK, SEED + 1)["test_grad_cam"] != probes

