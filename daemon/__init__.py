"""Streaming daemon: Kafka in, annotated records out."""
