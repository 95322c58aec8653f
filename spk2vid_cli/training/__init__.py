"""Training and evaluation of Spk2VidNet: data sources, stream synthesis, the trainer, metrics, scoring.

Above the library (reading, windows, classical, simulator, net) and the network; below the commands.
"""
