# Sur Google Colab, mettez True pour garder le dossier de run (modèles, historiques) sur Google
# Drive : une session déconnectée ne perd rien et un entraînement interrompu reprend. Mettez la
# même valeur dans chaque notebook. Sans effet hors de Colab et pendant la correction.
USE_DRIVE = False
