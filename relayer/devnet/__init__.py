"""Local development network: anvil nodes, contract deployment, operator processes."""
