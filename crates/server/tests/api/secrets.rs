//! Secrets never leak (being written).
