"""Storage: how the package keeps what it computed, and checks it before serving it again.

`records` seals JSON records with their checksum and keys entries by the sha256 of their key material; `files`
keeps every path inside its cache, refuses links, writes atomically and checks disk space; `locks` claims an
entry for the process computing it, with a heartbeat; `entries` is the one mechanism on top of them, a folder
of self-verifying entries (record plus optional arrays); `deps` reads the code a computation depends on from
the import graph; `memo` caches deterministic computations (`remembered`). A leaf of the package: it imports
`checks` and `paths` only. The run cache and the measurements (`alignbook.sweep`) are entry stores of their
own kinds.
"""
