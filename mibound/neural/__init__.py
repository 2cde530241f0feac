"""The neural machinery: critics, objectives, the seeded plan, batch streams, the one training loop,
model selection on validation rows, stacked runs and distributed collectives."""
