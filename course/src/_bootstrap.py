# Installe le kit `paysages` s'il manque (Google Colab), sans réinstaller TensorFlow.
# Un fichier wheel du paquet étudiant (paysages-*.whl) placé à côté du notebook est utilisé
# en priorité ; sinon le kit est installé depuis le dépôt du cours.
import glob
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("paysages") is None:
    wheels = sorted(glob.glob("paysages-*.whl") + glob.glob("/content/paysages-*.whl"))
    package = wheels[-1] if wheels else "paysages @ git+{repository_url}@{branch}"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", package], check=True)
