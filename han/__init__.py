"""The ZigBee HAN: ZCL and Smart Energy clusters, CBKE, tunnelling, radios."""
