"""Spk2VidNet, the bottom layer: the network, its deformable convolution, weights I/O, block geometry and errors.

Installed under the import name `spk2vid_model` (the folder is `model/`); imports only torch, numpy
and itself, never `spk2vid_cli`.
"""
