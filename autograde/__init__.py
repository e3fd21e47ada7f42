"""Instructor-side tools: notebook building, nbgrader configuration and the grading pipeline.

Never shipped to students (the student bundle holds the release notebooks and ``paysages``).
"""
