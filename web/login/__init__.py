"""Login by qualified electronic signature: pure decisions (core), trust material (trust), demo provider."""
