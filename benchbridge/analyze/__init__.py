"""Per-layer analytics: cheap measurements at every cut point, set against the measured transfer curve."""

ANALYSIS_DIR = "analysis"
ANALYSIS_FILE = "analysis.json"
FIGURE_NAME = "analysis"  # analysis.png and analysis.svg beside the json
FORMAT_VERSION = 2
"""2: per-question verdicts against a baseline (`questions`) replace version 1's `correlations`."""
PER_CLASS = 200
"""Default number of half B's training (and of its validation) images per class that the measurements see."""
