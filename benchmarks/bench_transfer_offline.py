"""Does fast-mode transfer learning beat the from-scratch CNN, with the kit's offline base?

Prints the validation accuracy of four models trained in fast mode on the sample dataset, as
notebooks 02 and 04 train them (the reference solutions, fast-mode settings, the same split):

* the from-scratch CNN of notebook 02;
* the transfer model on a MobileNetV2 base with RANDOM weights (what fast mode did before);
* the transfer model on the kit's own base (``paysages.pretrained``, NOT ImageNet), phase 1
  (frozen base) and phase 2 (fine-tuning).

Run it from the repository root: ``python benchmarks/bench_transfer_offline.py`` (a few minutes
on two CPU cores). It prints figures; it asserts nothing.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    import keras

    from paysages.data import load_split_arrays, prepare_split
    from paysages.pretrained import transfer_weights
    from paysages.settings import get_settings
    from solutions.cnn import build_cnn, compile_classifier
    from solutions.evaluation import classification_scores, predict_probabilities
    from solutions.transfer import build_transfer_model, unfreeze_top_layers

    with tempfile.TemporaryDirectory() as scratch:
        settings = get_settings(mode="fast", run_dir=Path(scratch) / "run")
        prepare_split(settings)
        data = load_split_arrays(settings)
        validation = (data.x_validation, data.y_validation)
        print(f"Sample dataset: {len(data.y_train)} training and {len(data.y_validation)} validation images, "
              f"{settings.image_size} px, {settings.num_epochs} epochs (+{settings.fine_tune_epochs} fine-tuning).")

        def train(model, epochs, name):
            started = time.monotonic()
            model.fit(data.x_train, data.y_train, validation_data=validation, epochs=epochs,
                      batch_size=settings.batch_size, verbose=0)
            scores = classification_scores(data.y_validation, predict_probabilities(model, data.x_validation))
            print(f"{name:<44} accuracy {scores['accuracy']:.3f}   macro-F1 {scores['macro_f1']:.3f}   "
                  f"{time.monotonic() - started:5.0f} s", flush=True)
            return model

        keras.utils.set_random_seed(settings.seed)
        train(compile_classifier(build_cnn(settings.image_shape, 7), settings.learning_rate),
              settings.num_epochs, "CNN from scratch (02)")
        keras.utils.set_random_seed(settings.seed)
        random_base = build_transfer_model(settings.image_shape, 7, weights=None)
        train(compile_classifier(random_base, settings.learning_rate), settings.num_epochs,
              "transfer, random MobileNetV2 base (before)")
        kit = transfer_weights(offline=True)
        keras.utils.set_random_seed(settings.seed)
        model = build_transfer_model(settings.image_shape, 7, weights=kit.weights)
        model = train(compile_classifier(model, settings.learning_rate), settings.num_epochs,
                      "transfer, kit base, phase 1 (frozen)")
        model = unfreeze_top_layers(model, 29, settings.fine_tune_learning_rate)
        train(model, settings.fine_tune_epochs, "transfer, kit base, phase 2 (fine-tuned)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
