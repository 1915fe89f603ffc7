"""OS awareness: reading a guest OS's structures through the VM's memory."""
