"""Verdicts computed outside the student's kernel (issue 10, item 2).

A converted test cell runs, in the grading kernel, only "call the student's functions on the
grader's probes and export plain results" (:mod:`paysages.probes`). Everything that decides is
here, run by the grader, never by a kernel:

* :mod:`autograde.verdicts.cells`: what a registered cell verdict is (probes, then a judgement);
* :mod:`autograde.verdicts.nb00`, ...: the verdicts of each converted notebook, which
  recompute the expected values with ``solutions/``;
* :mod:`autograde.verdicts.registry`: which notebooks and cells are converted;
* :mod:`autograde.verdicts.exports`: the loader of what a kernel exported (plain data only,
  size-capped, links never followed);
* :mod:`autograde.verdicts.__main__`: the trusted process (``python -m autograde.verdicts``)
  that judges one notebook's exports and writes the verdict file;
* :mod:`autograde.verdicts.stage`: the pipeline's side (a seed per run, the probes written
  before the kernel starts, the trusted process run after it, the scores written).
"""
