"""spk2vid: spike-camera recordings to high-resolution video."""

__version__ = "0.1.0"
