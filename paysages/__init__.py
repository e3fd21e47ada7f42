"""paysages: a Keras/TensorFlow teaching kit built around the ml5js Landscapes dataset.

The student-facing helper library. It holds no exercise solution: those live in the
instructor-only ``solutions`` package.
"""

__version__ = "0.1.0"
