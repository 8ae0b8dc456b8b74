"""The Anthropic client: models, retries, prompt caching and token accounting."""
