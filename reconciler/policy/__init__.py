"""The delivery policy: which recipients, channels, hosts and cadences deliveries may have, checked in
review before anything is sent (`validate`, `plan`, `apply`) and over the whole workspace (`audit`).

Pure, like the core: rules over a delivery's fields, no files, network or terminal.

    model      the `policy:` section of the config file (rules, exceptions) and a `Violation`
    rules      each rule over one delivery's fields (all but `max_same_minute`)
    timing     a cron's shortest gap between real runs over a year in a zone
    crowding   how many deliveries start at the same minute (`max_same_minute`), and a quiet minute
"""
