"""The fault harness: mixed load from retrying clients while something breaks, then a
check, from the database itself, that nothing acknowledged was lost or applied twice.

`scripts/faults` runs it and prints a table; it is a measurement, not a test (the suite
keeps fast versions of each case).
"""
