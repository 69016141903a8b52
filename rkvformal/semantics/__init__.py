"""What descriptors mean: validation, the primitive catalogue and obligation bundles."""
