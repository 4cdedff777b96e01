"""The package store's parts that trust nothing: the chained ledger, each package's own manifest, fixity
and the start-up reconciliation of store, ledger and catalogue. (server/store/storage.py writes the packages.)"""

import re

#: The stored name of one version of a package: v0001-<SHA-256 of the zip, upper case>.zip.
VERSION_RE = re.compile(r"^v(?P<n>\d{4,})-(?P<sha>[0-9A-F]{64})\.zip$")
