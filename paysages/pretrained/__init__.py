"""Which pretrained weights a transfer-learning base starts from: ImageNet, or the kit's own base.

Students choose the base of notebook 04 among :data:`TRANSFER_ARCHITECTURES`. Full mode (Colab,
with internet) uses the real ImageNet weights of ``keras.applications`` for any of them. Fast
mode and any offline run cannot download them, so the kit ships a MobileNetV2 base it trained
itself on a procedural *source domain* of abstract textures and patterns, never on the seven
landscape classes (``tools/pretrain_source_base.py``; how it was trained is recorded in
``mobilenet_v2_source.json`` beside the weights). It is loaded through the same code path as
ImageNet weights (``keras.applications.MobileNetV2(weights=PATH)``) and always labelled as NOT
ImageNet, in French, wherever a notebook shows it. Offline, the other bases have no pretrained
weights at all: they start from random weights, and the notebook says so just as loudly (their
structure, preprocessing and freezing can still be checked, as grading does in fast mode).
"""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from pathlib import Path

from paysages.errors import PrerequisiteError
from paysages.files import sha256_of_file

SOURCE_WEIGHTS_NAME = "mobilenet_v2_source.weights.h5"
SOURCE_RECORD_NAME = "mobilenet_v2_source.json"
# The only architecture the kit's own base exists for.
SOURCE_BASE_ARCHITECTURE = "MobileNetV2"

# The bases a student may choose in notebook 04: the ``keras.applications`` constructor name, and
# the ``keras.applications`` module whose ``preprocess_input`` gives the pixels that base expects
# (MobileNetV2 and ResNet50V2: x / 127.5 - 1; EfficientNetB0 rescales 0-255 pixels itself).
TRANSFER_ARCHITECTURES = {
    "MobileNetV2": "mobilenet_v2",
    "EfficientNetB0": "efficientnet",
    "ResNet50V2": "resnet_v2",
}


@dataclasses.dataclass(frozen=True)
class PretrainedWeights:
    """The ``weights`` argument of a ``keras.applications`` base, and how to describe it.

    ``weights`` is ``"imagenet"``, the path of the kit's weights file, or None (random weights);
    ``source`` is ``"imagenet"``, ``"paysages-source"`` or ``"random"`` (the value recorded with
    each saved model);
    ``label`` is the French description a notebook prints.
    """

    weights: str | None
    source: str
    label: str

    @property
    def is_imagenet(self) -> bool:
        return self.source == "imagenet"


def source_weights_path() -> Path:
    """The path of the kit's own MobileNetV2 weights file (inside the installed package)."""
    return Path(str(resources.files("paysages.pretrained").joinpath(SOURCE_WEIGHTS_NAME)))


def source_record() -> dict:
    """How the kit's base was trained (script, classes, epochs, held-out accuracy, SHA-256...)."""
    record_path = resources.files("paysages.pretrained").joinpath(SOURCE_RECORD_NAME)
    return json.loads(record_path.read_text(encoding="utf-8"))


def verified_source_weights_path() -> Path:
    """The kit's weights file, checked against the SHA-256 of its record.

    Raises ``PrerequisiteError`` (in French, naming the file) when the file is missing or
    differs from the one recorded, for example after a half-finished copy.
    """
    path = source_weights_path()
    if not path.is_file():
        raise PrerequisiteError(
            f"Le fichier de poids du kit {path} est introuvable : réinstallez le kit "
            "(cellule d'installation du notebook 00)."
        )
    expected = source_record().get("weights_sha256")
    found = sha256_of_file(path)
    if found != expected:
        raise PrerequisiteError(
            f"Le fichier de poids du kit {path} est abîmé : SHA-256 attendu {expected}, trouvé {found}. "
            "Réinstallez le kit (cellule d'installation du notebook 00)."
        )
    return path


def check_architecture(architecture) -> str:
    """Return ``architecture`` when it is one of :data:`TRANSFER_ARCHITECTURES`, else raise ValueError."""
    if architecture not in TRANSFER_ARCHITECTURES:
        raise ValueError(
            f"La base doit être l'une de {', '.join(TRANSFER_ARCHITECTURES)} ; reçu {architecture!r}."
        )
    return architecture


def preprocess_input_of(architecture: str):
    """The ``keras.applications`` ``preprocess_input`` function of a base (it may change a float array in place)."""
    import keras

    module = TRANSFER_ARCHITECTURES[check_architecture(architecture)]
    return getattr(keras.applications, module).preprocess_input


def transfer_weights(offline: bool, architecture: str = SOURCE_BASE_ARCHITECTURE) -> PretrainedWeights:
    """The weights a transfer base of ``architecture`` starts from, online or offline.

    Online: ImageNet. Offline: the kit's own base for MobileNetV2; the other architectures have
    no pretrained weights offline and start from random weights (``weights=None``), labelled so.
    Raises ValueError for an architecture outside :data:`TRANSFER_ARCHITECTURES`.
    """
    check_architecture(architecture)
    if not offline:
        return PretrainedWeights("imagenet", "imagenet", f"{architecture} pré-entraîné sur ImageNet")
    if architecture != SOURCE_BASE_ARCHITECTURE:
        return PretrainedWeights(
            None, "random",
            f"{architecture} avec des poids ALÉATOIRES : hors ligne, seul {SOURCE_BASE_ARCHITECTURE} a des "
            "poids pré-entraînés (ceux du kit), et ce n'est donc PAS un transfert",
        )
    record = source_record()
    classes = ", ".join(record["source_classes"])
    label = (
        f"{SOURCE_BASE_ARCHITECTURE} pré-entraîné PAR LE KIT sur des textures synthétiques "
        f"({classes}) — PAS sur ImageNet, et jamais sur les 7 classes de paysages"
    )
    return PretrainedWeights(str(verified_source_weights_path()), "paysages-source", label)


def offline_banner(weights: PretrainedWeights) -> str:
    """The loud French notice a notebook prints when the base is not ImageNet's ("" otherwise)."""
    if weights.is_imagenet:
        return ""
    line = "!" * 88
    if weights.weights is None:
        return (
            f"{line}\n"
            "ATTENTION : mode hors ligne, les poids ImageNet ne sont PAS téléchargés.\n"
            f"La base est : {weights.label}.\n"
            "Le code se vérifie (structure, prétraitement, gel), mais les résultats ne valent RIEN\n"
            "comme transfert. Pour le vrai transfert : MODE = 'full' sur Colab, avec internet.\n"
            f"{line}"
        )
    return (
        f"{line}\n"
        "ATTENTION : mode hors ligne, les poids ImageNet ne sont PAS téléchargés.\n"
        f"La base est : {weights.label}.\n"
        "Le transfert fonctionne (des bords, des textures, des couleurs déjà appris), mais ses\n"
        "résultats ne sont PAS ceux d'ImageNet. Pour le vrai transfert : MODE = 'full' sur Colab.\n"
        f"{line}"
    )
