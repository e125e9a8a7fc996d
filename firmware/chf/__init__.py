"""The Communications Hub Function: HAN coordinator, device log, WAN side."""
