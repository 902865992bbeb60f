/*
 * UUIDs: event ids are made by the SDK and are the dedupe key, so the
 * server checks their form and makes one (v4) only when an event has none.
 */
#ifndef PX_UUID_H
#define PX_UUID_H

#include <stddef.h>

#define PX_UUID_LEN  36

/* 1 when s is 8-4-4-4-12 hex digits (any version, either case), else 0. */
int px_uuid_valid(const char *s, size_t len);

/* Write a random (v4) UUID, lowercase, plus a NUL into out (37 bytes).
 * Returns 0, or -1 when the kernel gave no randomness. */
int px_uuid_v4(char *out);

#endif
