"""Great Expectations gates on stage outputs."""
