"""The operator side: the producer library operators integrate, and the traffic simulator built on it."""
