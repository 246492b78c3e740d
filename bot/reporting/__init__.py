"""Reports on the agreement: figures, periods, charts, the weekly digest and the monthly review."""
