"""The DCC head end: DUIS service requests in, GBCS commands out.

`duis` parses requests and writes Service Responses, `access` holds the DCC's checks
(roles, the Smart Metering Inventory, anomaly detection, the message log), `transform`
turns a request into the GBCS command, and `dcc` ties them together around an injected
WAN link and clock, so an HTTP API or a CLI can sit on top without changing them.
"""
