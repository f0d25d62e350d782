//! Key files (to be written).
