//! End-to-end tests of Kiln live in `e2e/` (one test binary, one module per area); this library is empty.
