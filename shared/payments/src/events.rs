//! Provider webhook payloads (to be written).
