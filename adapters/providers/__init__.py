"""Payment provider adapters: one per integration style, all behind `contract.ProviderAdapter`."""
