"""The DCC head end: DUIS service requests in, GBCS commands out.

`duis` parses requests and writes Service Responses, `access` holds the DCC's checks
(roles, the Smart Metering Inventory, anomaly detection, the message log), `transform`
turns a request into the GBCS command, `smi` answers the inventory requests, `schedule`
keeps DCC-scheduled reads, `mmc` puts device responses in the MMC form, and `dcc` ties
them together around an injected WAN link and clock; `http` is the DCC Boxed shaped API
on aiohttp that sits on top without changing them, checking each request's XML
signature (`xmldsig`).
"""
