"""Transport security: the deployment's PKI, access keys (client certificates + ACLs)."""
