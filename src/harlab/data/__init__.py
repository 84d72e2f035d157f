"""Data layer: sources -> recordings -> (split) -> windows -> normalisation -> datamodule."""
