"""What a study (or a single config) tells you once it has run: the doctor's ranked fixes,
the stability map, the exported best config and trials table, and the HTML report.

Reads studies through :mod:`sweeps.store`; prints nothing (the CLI renders the results).
"""
