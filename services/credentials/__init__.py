"""Provider credentials per org: AES-GCM at rest, masked on read, resolved by workers."""
