//! The security matrix (being written).
