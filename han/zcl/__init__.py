"""ZCL and Smart Energy clusters for the HAN, on zigpy's ZCL foundation.

`clusters` compiles zigpy cluster classes from the GBCS ZSE tables, `frame` encodes and
decodes whole ZCL frames, `server` answers the foundation commands from an attribute store.
"""

from han.zcl.clusters import CLUSTERS, attribute, cluster
from han.zcl.errors import ZclDecodeError
from han.zcl.frame import (
    ZclFrame,
    cluster_command,
    command_def,
    decode_frame,
    encode_frame,
    general_command,
)
from han.zcl.server import ClusterServer, CommandHandler

__all__ = ["CLUSTERS", "ClusterServer", "CommandHandler", "ZclDecodeError", "ZclFrame",
           "attribute", "cluster", "cluster_command", "command_def", "decode_frame",
           "encode_frame", "general_command"]
