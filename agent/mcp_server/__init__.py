"""The MCP server at /mcp: the same services as the REST API, reached by AI clients.

`protocol.py` speaks JSON-RPC over the Streamable HTTP transport (messages
validated and built with the official SDK's `mcp_types`), `tools.py` holds the
tools and `views.py` the one Django view, authenticated by a personal access token.
"""
