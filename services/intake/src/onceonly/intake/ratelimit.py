"""Token buckets per client (an integrator, an IP address), in process: the platform's
(`onceonly.platform.limits`), which the staff APIs use too."""

from onceonly.platform.limits import RateLimiter, retry_after_header

__all__ = ["RateLimiter", "retry_after_header"]
