"""The operator contract, published: an AsyncAPI 3 document and the reason codes it describes."""
