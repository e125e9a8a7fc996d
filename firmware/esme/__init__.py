"""The ESME firmware: COSEM objects, the DLMS server and the device."""
