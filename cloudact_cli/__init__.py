"""The cloudact command: runs the services and talks to them through their gRPC contracts."""
