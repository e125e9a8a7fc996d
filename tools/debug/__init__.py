"""`smetslab debug`: step through a premises in virtual time (`session`: the commands over
a `tools.lab.Lab`; `state`: what `print` and `break watch` read; `service`: the DCC User's
friendly service requests; `console`: scripts and the interactive prompt; `client`:
`smetslab send` against a running lab's HTTP API)."""
