"""Clean API routes (/api/v1). Thin: parse, open one transaction, call one service, convert."""
