"""Socket.IO: the server object and, in later modules, the /caller and /monitor namespaces."""
