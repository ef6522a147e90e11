"""drumscribe: turn songs into drum charts.

audio -> features -> CRNN activations -> pluggy postprocessing -> onsets -> MIDI.
"""

__version__ = "0.1.0"
