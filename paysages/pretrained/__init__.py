"""Which pretrained weights a transfer-learning base starts from: ImageNet, or the kit's own base.

Full mode (Colab, with internet) uses the real ImageNet weights of ``keras.applications``. Fast
mode and any offline run cannot download them, so the kit ships a MobileNetV2 base it trained
itself on a procedural *source domain* of abstract textures and patterns, never on the seven
landscape classes (``tools/pretrain_source_base.py``; how it was trained is recorded in
``mobilenet_v2_source.json`` beside the weights). It is loaded through the same code path as
ImageNet weights (``keras.applications.MobileNetV2(weights=PATH)``) and always labelled as NOT
ImageNet, in French, wherever a notebook shows it.
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


@dataclasses.dataclass(frozen=True)
class PretrainedWeights:
    """The ``weights`` argument of a ``keras.applications`` base, and how to describe it.

    ``weights`` is ``"imagenet"`` or the path of the kit's weights file; ``source`` is
    ``"imagenet"`` or ``"paysages-source"`` (the value recorded with each saved model);
    ``label`` is the French description a notebook prints.
    """

    weights: str
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


def transfer_weights(offline: bool, architecture: str = SOURCE_BASE_ARCHITECTURE) -> PretrainedWeights:
    """The weights a transfer base of ``architecture`` starts from, online or offline.

    Online: ImageNet. Offline: the kit's own base, which exists for MobileNetV2 only; any other
    architecture raises ``PrerequisiteError`` saying to switch to full mode with internet.
    """
    if not offline:
        return PretrainedWeights("imagenet", "imagenet", f"{architecture} pré-entraîné sur ImageNet")
    if architecture != SOURCE_BASE_ARCHITECTURE:
        raise PrerequisiteError(
            f"Hors ligne, seul {SOURCE_BASE_ARCHITECTURE} a des poids pré-entraînés (ceux du kit) ; "
            f"{architecture} n'en a pas. Passez en MODE = 'full' sur Colab, avec internet, "
            f"ou choisissez {SOURCE_BASE_ARCHITECTURE}."
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
    return (
        f"{line}\n"
        "ATTENTION : mode hors ligne, les poids ImageNet ne sont PAS téléchargés.\n"
        f"La base est : {weights.label}.\n"
        "Le transfert fonctionne (des bords, des textures, des couleurs déjà appris), mais ses\n"
        "résultats ne sont PAS ceux d'ImageNet. Pour le vrai transfert : MODE = 'full' sur Colab.\n"
        f"{line}"
    )
