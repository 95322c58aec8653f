"""Spk2VidNet: the recurrent spike-to-video super-resolution network and its training."""
