"""The agent as a service: the log-in installers (installers.py) and the agent loop."""
