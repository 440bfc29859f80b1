"""The pure core: `build.plan(desired, remote, kind=...) -> Plan`, a function of data, no I/O.

Its phases, one module each: `model` (the plan as data), `compare` (one canonical form, differences,
update bodies), `matching` (recorded ids, then adoption by content), `build` (the plan from those),
`safety` (when a plan touches too much to apply without --force).
"""
