"""`seqit quickstart`: the whole SIT loop on CPU on the micro-world, composed of the real stages."""
