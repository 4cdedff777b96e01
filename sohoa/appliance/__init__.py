"""Running sohoa as an appliance: config checks, status, server backup/restore, TLS material."""
