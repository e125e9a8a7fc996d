"""The hardware a firmware runs on and the simulator that runs it."""
