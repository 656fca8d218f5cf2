"""Rate limits, concurrency limits and USD budgets, exact across processes (Redis + Lua)."""
