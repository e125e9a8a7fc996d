"""The GSME (gas meter) firmware."""
