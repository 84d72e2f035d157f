"""Experiments that train several runs and compare them (e.g. the DanHAR ablation)."""
