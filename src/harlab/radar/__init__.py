"""Radar: person-specific micro-Doppler simulation and the real-data processing chain.

``types`` holds the two objects every part shares: :class:`RadarParams` (what the radar
is) and :class:`RawRadar` (one recording of raw slow-time x fast-time samples, simulated
or read from a file), so that simulated and real data go through the same chain.
"""

from harlab.radar.types import RadarParams, RawRadar

__all__ = ["RadarParams", "RawRadar"]
