"""Answer generators: the embedded extractive answerer and OpenAI-compatible chat endpoints."""

from bot.generators.base import Generation, GeneratorError, SourceText

__all__ = ["Generation", "GeneratorError", "SourceText"]
