"""Taking files, folders and zip archives into the locker."""
