"""The package store's parts that trust nothing: the chained ledger, each package's own manifest, fixity
and the start-up reconciliation of store, ledger and catalogue. (server/storage.py writes the packages.)"""
