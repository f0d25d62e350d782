//! Receipts (to be written).
