"""Long-running front ends that are not the app: the local HTTP API and MCP server (issue #17)
and the headless background service that hosts the scheduler, the Wi-Fi receiver and USB
watching (issue #14). Like ui/ and the commands, they reach the core only through lifelog.api."""
