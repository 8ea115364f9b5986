"""What station and hub must agree on: domain rules, record types and (later) the sync protocol.

Everything in this package is pure: no network, no files written, no UI. The only data it
reads are the sample files shipped inside the package (``sync/data``), through
:mod:`sync.samples`.
"""
