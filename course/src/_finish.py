# Dernière cellule : sur Colab, attend que tous vos résultats soient bien arrivés sur Google Drive
# (le notebook suivant, qui a sa propre machine, les y retrouvera), puis dit où ils sont.
from paysages.notebook import finish

finish(context)
