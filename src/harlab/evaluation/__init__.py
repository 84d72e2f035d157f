"""Evaluation: metrics (scikit-learn based), PNG plots (matplotlib, Agg) and reports.

- :mod:`harlab.evaluation.metrics` -- ``compute_metrics`` (overall, per-class, per-group
  scores and the confusion matrix as a JSON-ready dict) and ``summarize_runs`` (spread over
  seeds or folds).
- :mod:`harlab.evaluation.plots` -- confusion matrix, training curves and per-group bars.
- :mod:`harlab.evaluation.report` -- markdown and console tables, atomic JSON writing.
"""
