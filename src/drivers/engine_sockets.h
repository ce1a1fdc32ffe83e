/* Container engines' API sockets (Docker, Podman, containerd, CRI-O,
 * BuildKit) give root on the host to whoever can connect(), and a read-only
 * mount does not stop connect(): no sandbox of any backend may see one. */
#ifndef HUTCH_ENGINE_SOCKETS_H
#define HUTCH_ENGINE_SOCKETS_H

#include "base/error.h"

/* Fails (HUTCH_E_INVALID) when the canonical host path real_source is, or
 * contains, a known engine socket (or extra, when not NULL: the engine the
 * docker backend itself talks to). what names the setting for the message. */
int engine_sockets_refuse(const char *real_source, const char *what, const char *extra,
                          hutch_error *err);

#endif
