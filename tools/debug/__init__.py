"""`smetslab debug`: step through a premises in virtual time (`session`: the commands over
a `tools.lab.Lab`, snapshots and going back by replay; `breakpoints`: what stops a run;
`state`: what `print`, `break watch` and conditions read; `trace`: the GBCS messages on
the WAN and the HAN; `stimuli`: load, buttons, mains, tamper, battery; `service`: the
DCC User's friendly service requests; `console`: scripts and the interactive prompt;
`client`: `smetslab send` against a running lab's HTTP API)."""
