"""The GPF (gas proxy function) firmware."""
