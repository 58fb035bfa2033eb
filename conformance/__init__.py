"""`mph provider-check`: the Hub Provider Protocol's cases run against a provider's own
implementation, before it goes live. See docs/providers.md."""
