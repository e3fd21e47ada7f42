# Installe le kit `paysages` de cette version du cours (Google Colab), sans réinstaller TensorFlow.
# Un kit absent ou d'une autre version est (ré)installé : depuis un fichier wheel
# paysages-{kit_version}-*.whl placé à côté du notebook s'il y en a un, sinon depuis le dépôt du
# cours, à l'étiquette {kit_tag}. Un dossier source du kit, sans installation, est gardé tel quel.
import glob
import importlib.metadata
import importlib.util
import subprocess
import sys

try:
    installed_version = importlib.metadata.version("paysages")
except importlib.metadata.PackageNotFoundError:
    installed_version = None if importlib.util.find_spec("paysages") is None else "{kit_version}"
if installed_version != "{kit_version}":
    wheels = sorted(glob.glob("paysages-{kit_version}-*.whl") + glob.glob("/content/paysages-{kit_version}-*.whl"))
    package = wheels[-1] if wheels else "paysages @ git+{repository_url}@{kit_tag}"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", package], check=True)
    if "paysages" in sys.modules:
        print("Kit mis à jour : redémarrez la session (Exécution > Redémarrer la session), puis relancez le notebook.")
