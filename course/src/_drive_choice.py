# Vos réglages (les mêmes dans chaque notebook, voir le notebook 00) :
# - MODE = "full" : les vraies photos Landscapes et les réglages GPU (la séance normale sur Colab) ;
#   MODE = "fast" : le petit jeu synthétique et quelques époques, pour essayer son code en minutes.
# - USE_DRIVE = True (sur Colab) garde le dossier de run sur Google Drive, car chaque notebook
#   Colab a sa propre machine, effacée au recyclage : c'est là que ce notebook retrouve les
#   résultats des précédents (avec False, ils restent introuvables et se perdent).
# Pendant la correction automatique, le mode rapide est imposé et Drive n'est pas utilisé.
MODE = "full"
USE_DRIVE = True
