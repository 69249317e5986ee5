"""The Shared AI Gateway: the one door through which internal backends reach Claude and Groq."""
