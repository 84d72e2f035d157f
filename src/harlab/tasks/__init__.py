"""Lightning tasks: the training modules and their losses."""
