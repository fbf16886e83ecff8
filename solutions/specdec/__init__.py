"""specdec: speculative decoding for LLMs on MLX, one task module per chapter."""
