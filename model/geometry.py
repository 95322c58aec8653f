"""Block geometry: the defaults for cutting a spike stream into blocks, named once for every layer.

Block i holds WINDOW = 2w+1 spike frames centred on spike frame t_i = w + STRIDE * i (the paper:
21 frames every 10). The networks are built and trained for WINDOW; the classical baselines TFP41
and TFI41 (and `info`'s preview) look at CLASSICAL_WINDOW frames around the same centres.
"""

WINDOW = 21            # spike frames per block, 2w+1
STRIDE = 10            # spike frames between consecutive blocks, i.e. between output frames
CLASSICAL_WINDOW = 41  # spike frames of the TFP41 / TFI41 baselines and of `spk2vid info --preview`
