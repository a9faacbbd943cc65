//! Sync: wire protocol, device engine, server merge (issue 3).
