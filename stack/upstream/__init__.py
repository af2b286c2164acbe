"""An OpenAI-compatible model emulator (streaming chat completions, embeddings) with a seeded latency model.

Load tests talk to it instead of a hosted model: no tokens spent, and the time to first token,
token rate and answer length behave like a model's, reproducibly.
"""
