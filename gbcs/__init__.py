"""The GBCS codec: pure functions over bytes, no I/O, no clock.

`gbcs.message.decode` turns bytes into a `gbcs.node.Node` tree whose every node knows
its byte range; `gbcs.node.encode` turns such a tree back into the same bytes.
"""
