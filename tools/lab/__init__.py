"""`smetslab lab`: a premises from its board files running over the virtual HAN, driven
by the DCC: `pki` (keys), `esme` (the meter on its board), `han` (network, CBKE,
tunnels, the IHD), `wan` (the DCC and the CHF's routing), `premises` (assembly),
`status` (what is shown), `demo` (the scripted tour) and `run` (the command)."""
